"""Traces across the processes: with `OTEL_EXPORTER_OTLP_ENDPOINT` set (the SDK's own configuration), one lead's
re-audit — the API request, the audit, the writeback that updates PlusVibe, the status flip in leads — is ONE
trace in the collector, continued through Kafka headers and through the work items the audit and delivery
workers pick up later, with database and HTTP client spans inside it; and no span carries the PlusVibe key."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from e2e_testkit import E2E, system_running
from otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from test_e2e_seed_flow import campaign_id, create, lead, status_becomes, until

from outreach_local.system import LocalSystem

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
SERVICES = ("leads", "audits", "writeback")


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def running_system(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, postgres_url: str,
                   receiver: OtlpReceiver) -> Iterator[tuple[LocalSystem, dict[str, str]]]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    with system_running(tmp_path_factory, kafka_bootstrap, postgres_url, env) as running:
        yield running


def _db(span: ReceivedSpan) -> bool:
    return span.kind == "SPAN_KIND_CLIENT" and "postgresql" in (span.attributes.get("db.system"),
                                                                span.attributes.get("db.system.name"))


def _plusvibe_update(span: ReceivedSpan) -> bool:
    url = str(span.attributes.get("url.full") or span.attributes.get("http.url") or "")
    return span.kind == "SPAN_KIND_CLIENT" and url.split("?")[0].endswith("/lead/data/update")


async def test_a_re_audit_is_one_trace_from_the_request_to_the_status_flip(e2e: E2E, receiver: OtlpReceiver) -> None:
    campaign = await campaign_id(e2e)
    created = await create(e2e, "northwind-bakery.test", "tracy@northwind-bakery.test", company="Trace Bakery")
    lead_id = created["id"]
    assert (await e2e.api.post(f"/api/leads/{lead_id}/audits")).status_code == 202
    await status_becomes(e2e, lead_id, "email_generated", timeout_s=90)
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead_id]})
    assert r.status_code == 200, r.text  # linked: the next writeback updates PlusVibe

    # The caller starts the trace (as a browser or another service would) and re-audits the linked lead.
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    r = await e2e.api.post(f"/api/leads/{lead_id}/audits", headers={"traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert r.status_code == 202, r.text
    run_id = r.json()["auditRunId"]

    async def flipped() -> bool:
        shown = await lead(e2e, lead_id)
        written = (shown["plusvibeLeadData"] or {}).get("lastOutboundWriteback") or {}
        return (shown["status"] == "email_generated" and shown["audit"]["auditRunId"] == run_id
                and written.get("auditRunId", run_id) == run_id)

    await until(flipped, "the re-audit's writeback and status flip", timeout_s=90)

    def complete() -> bool:
        # Each process exports in its own batches: a parent span (ended last) may arrive after its children, so
        # wait until every process has sent its part: the last span of each hop and no parent still missing.
        spans = receiver.of_trace(trace_id)
        names = {(s.service, s.name) for s in spans}
        ids = {s.span_id for s in spans} | {caller_span}
        return (("leads", "consume WritebackCompleted") in names and ("writeback", "deliver writeback") in names
                and all(s.parent_span_id in ids for s in spans)
                and any(_plusvibe_update(s) and s.service == "writeback" for s in spans)
                and all(any(_db(s) and s.service == svc for s in spans) for svc in SERVICES))

    async def exported() -> bool:
        return complete()

    await until(exported, "the trace's spans at the receiver", timeout_s=30)
    spans = receiver.of_trace(trace_id)

    # One trace: every span hangs off another span of it, up to the caller's span.
    ids = {s.span_id for s in spans}
    orphans = [(s.service, s.name, s.parent_span_id) for s in spans if s.parent_span_id not in ids | {caller_span}]
    assert not orphans, orphans
    roots = [s for s in spans if s.parent_span_id == caller_span]
    assert [(s.service, s.kind) for s in roots] == [("leads", "SPAN_KIND_SERVER")], roots

    # It crosses the processes in the order of the flow: leads → audits → writeback → leads.
    by_service = {svc: [s.name for s in spans if s.service == svc] for svc in SERVICES}
    assert "consume AuditRequested" in by_service["audits"]
    assert "audit" in by_service["audits"]
    assert "consume AuditCompleted" in by_service["writeback"]
    assert "deliver writeback" in by_service["writeback"]
    assert "consume WritebackCompleted" in by_service["leads"]

    # The PlusVibe call is an HTTP client span of the delivery, under the span of the delivery it belongs to.
    update = next(s for s in spans if _plusvibe_update(s))
    parent = next(s for s in spans if s.span_id == update.parent_span_id)
    assert (parent.service, parent.name) == ("writeback", "deliver writeback")

    # No span anywhere (of this trace or any other) carries the PlusVibe key.
    key = e2e.config.simulator_api_key
    with receiver.lock:
        everything = list(receiver.spans)
    assert all(key not in repr((s.name, s.attributes)) for s in everything)
