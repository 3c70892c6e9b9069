"""Leads as a consumer on the real broker: audit results, the atomic writeback apply, newest-wins, duplicates,
and forward-only email activity."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from leads_testkit import Harness, audit_completed, earlier, parse_time, writeback_completed
from sqlalchemy import text

from contracts.topics import AUDIT_COMPLETED, EMAIL_ACTIVITY_RECEIVED, LEAD_UPSERTED, WRITEBACK_COMPLETED
from contracts.unibox import EmailActivityReceived
from servicekit.messaging.events import new_envelope
from servicekit.testing import read_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _audited_lead(harness: Harness) -> tuple[dict[str, Any], str, datetime]:
    lead = await harness.create_lead()
    run_id = (await harness.client.post(f"/api/leads/{lead['id']}/audits")).json()["auditRunId"]
    requested_at = parse_time((await harness.lead(lead["id"]))["audit"]["requestedAt"])
    return lead, run_id, requested_at


async def _status_is(harness: Harness, lead_id: str, status: str) -> bool:
    return (await harness.lead(lead_id))["status"] == status


async def test_audit_completed_links_the_run_and_sets_audit_complete(harness: Harness) -> None:
    lead, run_id, requested_at = await _audited_lead(harness)
    event = audit_completed(lead["id"], run_id, requested_at, grade="B")
    await harness.publish(AUDIT_COMPLETED, event)
    await wait_until(lambda: _status_is(harness, lead["id"], "audit_complete"), what="audit_complete")
    # The batch path writes the run's changed columns itself (servicekit.process.bulk.flush_changed_rows) and preloads
    # runs without their profile: the new profile must still be stored.
    async with harness.service.runtime.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT profile, grade, status FROM audit_runs WHERE id = :id"),
                                     {"id": uuid.UUID(run_id)})).one()
    assert tuple(stored) == (event.data["profile"], "B", "completed")
    shown = await harness.lead(lead["id"])
    assert shown["statusBadge"] == "Audited"
    assert shown["audit"]["grade"] == "B"
    assert shown["audit"]["topIssue"] == "Visitors see a 'Not secure' warning"
    assert shown["auditSummary"] == "Grade C: fix https first."
    assert shown["audit"]["reportUrl"].startswith("https://reports.test/r/")


async def test_writeback_sets_variables_and_email_generated_in_one_transaction(harness: Harness) -> None:
    leads = [await _audited_lead(harness) for _ in range(15)]
    seen_torn: list[str] = []
    stop = asyncio.Event()

    async def reader() -> None:
        # Polls the API during the apply: it must never see the status without the variables, or the reverse.
        while not stop.is_set():
            for lead, _run, _at in leads:
                shown = await harness.lead(lead["id"])
                wb = (shown["plusvibeLeadData"] or {}).get("lastOutboundWriteback")
                if (shown["status"] == "email_generated") != (wb is not None and bool(wb["variables"])):
                    seen_torn.append(shown["id"])

    task = asyncio.create_task(reader())
    await harness.publish(WRITEBACK_COMPLETED, *[writeback_completed(lead["id"], run, at) for lead, run, at in leads])

    async def all_generated() -> bool:
        return all([await _status_is(harness, lead["id"], "email_generated") for lead, _r, _a in leads])

    await wait_until(all_generated, what="every lead email_generated")
    stop.set()
    await task
    assert seen_torn == []
    shown = await harness.lead(leads[0][0]["id"])
    variables = shown["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]
    assert variables["audit_grade"] == "C"
    assert variables["email_subject"] == variables["email_subject_1"]
    emails = (await harness.client.get(f"/api/leads/{leads[0][0]['id']}/emails")).json()
    assert sorted(e["step"] for e in emails) == [1, 2, 3]
    assert {e["type"] for e in emails} == {"writeback"}
    assert {e["writebackStatus"] for e in emails} == {"stored"}


async def test_a_stale_run_never_regresses_a_lead(harness: Harness) -> None:
    lead, old_run, old_at = await _audited_lead(harness)
    new_run = (await harness.client.post(f"/api/leads/{lead['id']}/audits")).json()["auditRunId"]
    new_at = parse_time((await harness.lead(lead["id"]))["audit"]["requestedAt"])
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(lead["id"], new_run, new_at))
    await wait_until(lambda: _status_is(harness, lead["id"], "email_generated"), what="email_generated")
    version = (await harness.lead(lead["id"]))["version"]
    # The older run's results arrive late: nothing about the lead changes.
    await harness.publish(AUDIT_COMPLETED, audit_completed(lead["id"], old_run, old_at, grade="F"))
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(lead["id"], old_run, old_at,
                                                                   variables={"audit_grade": "F"}))
    marker, marker_run, marker_at = await _audited_lead(harness)  # a later event on the same topics as a barrier
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(marker["id"], marker_run, marker_at))
    await harness.publish(AUDIT_COMPLETED, audit_completed(marker["id"], marker_run, earlier(marker_at, -1)))
    await wait_until(lambda: _status_is(harness, marker["id"], "email_generated"), what="barrier")
    await asyncio.sleep(0.5)
    shown = await harness.lead(lead["id"])
    assert shown["status"] == "email_generated"
    assert shown["version"] == version
    assert shown["audit"]["auditRunId"] == new_run
    assert shown["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]["audit_grade"] == "C"


async def test_duplicate_events_apply_once(harness: Harness) -> None:
    lead, run_id, at = await _audited_lead(harness)
    envelope = writeback_completed(lead["id"], run_id, at)
    await harness.publish(WRITEBACK_COMPLETED, envelope, envelope, envelope)
    await wait_until(lambda: _status_is(harness, lead["id"], "email_generated"), what="email_generated")
    await asyncio.sleep(0.5)
    emails = (await harness.client.get(f"/api/leads/{lead['id']}/emails")).json()
    assert len(emails) == 3  # one writeback → three step rows, not nine
    async with harness.service.runtime.engine.connect() as conn:
        changes = (await conn.execute(text(
            "SELECT count(*) FROM status_history WHERE lead_id = :id AND to_status = 'email_generated'"),
            {"id": uuid.UUID(lead["id"])})).scalar_one()
    assert changes == 1


def _activity(lead_id: str, activity: str, webhook_event: str, *, seconds_ago: float = 0, **extra: Any) -> Any:
    return new_envelope(EmailActivityReceived(
        lead_id=uuid.UUID(lead_id), activity=activity, webhook_event=webhook_event,  # type: ignore[arg-type]
        email="ada@acme.test", observed_at=earlier(datetime.now(UTC), seconds_ago),
        raw_payload={"webhook_event": webhook_event, **extra}, **{k: v for k, v in extra.items()
                                                                    if k in {"label", "sentiment", "subject"}},
    ))


async def test_email_activity_moves_forward_only_and_fills_the_enrichment(harness: Harness) -> None:
    lead, run_id, at = await _audited_lead(harness)
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(lead["id"], run_id, at))
    await wait_until(lambda: _status_is(harness, lead["id"], "email_generated"), what="email_generated")
    topic = EMAIL_ACTIVITY_RECEIVED
    await harness.publish(topic, _activity(lead["id"], "sent", "EMAIL_SENT", seconds_ago=30, subject="Quick idea"))
    await wait_until(lambda: _status_is(harness, lead["id"], "email_sent"), what="email_sent")
    await harness.publish(topic, _activity(lead["id"], "opened", "EMAIL_OPENED", seconds_ago=20))
    await wait_until(lambda: _status_is(harness, lead["id"], "opened"), what="opened")
    await harness.publish(topic, _activity(lead["id"], "replied", "ALL_EMAIL_REPLIES", seconds_ago=10,
                                           subject="Re: Quick idea", sentiment="POSITIVE"))
    await wait_until(lambda: _status_is(harness, lead["id"], "replied"), what="replied")
    # A late EMAIL_SENT (redelivered by the platform) does not move the lead back.
    await harness.publish(topic, _activity(lead["id"], "sent", "EMAIL_SENT", seconds_ago=40, subject="Old"))
    await harness.publish(topic, _activity(lead["id"], "label_changed", "LEAD_MARKED_AS_INTERESTED", seconds_ago=5,
                                           label="INTERESTED", sentiment="POSITIVE"))

    async def labelled() -> bool:
        return ((await harness.lead(lead["id"]))["plusvibeLeadData"] or {}).get("label") == "INTERESTED"

    await wait_until(labelled, what="label")
    shown = await harness.lead(lead["id"])
    assert shown["status"] == "replied"
    pv = shown["plusvibeLeadData"]
    assert pv["replySentiment"] == "POSITIVE"
    assert pv["lastEmailSubject"] == "Re: Quick idea"
    assert pv["rawWebhookPayload"]["webhook_event"] == "LEAD_MARKED_AS_INTERESTED"
    assert shown["opens"] == 1
    await harness.publish(topic, _activity(lead["id"], "label_changed", "LEAD_MARKED_AS_MEETING_BOOKED",
                                           label="MEETING_BOOKED"))
    await wait_until(lambda: _status_is(harness, lead["id"], "converted"), what="converted")


async def test_every_change_is_announced_with_a_growing_version(harness: Harness) -> None:
    lead, run_id, at = await _audited_lead(harness)
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(lead["id"], run_id, at))
    await wait_until(lambda: _status_is(harness, lead["id"], "email_generated"), what="email_generated")
    final = (await harness.lead(lead["id"]))["version"]

    async def announced() -> bool:
        records = await read_topic(harness.bootstrap_servers, harness.topic(LEAD_UPSERTED), expected=10_000,
                                   timeout_s=2)
        import json

        versions = [json.loads(r.value)["data"]["lead"]["version"] for r in records if r.key == lead["id"].encode()]
        return versions == list(range(1, final + 1))

    await wait_until(announced, timeout_s=20, what="LeadUpserted versions 1..n in order")


async def test_a_request_trace_continues_through_the_outbox_and_the_consumers(harness: Harness) -> None:
    import json as _json

    from contracts.topics import AUDIT_REQUESTED, LEAD_STATUS_CHANGED

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    lead = await harness.create_lead()
    r = await harness.client.post(f"/api/leads/{lead['id']}/audits",
                                  headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    run_id = r.json()["auditRunId"]
    requested = await read_topic(harness.bootstrap_servers, harness.topic(AUDIT_REQUESTED), expected=10_000, timeout_s=3)
    mine = [rec for rec in requested if _json.loads(rec.value)["data"]["audit_run_id"] == run_id]
    headers = dict(mine[0].headers)
    assert headers["traceparent"].decode().split("-")[1] == trace_id  # the HTTP trace went into the event
    # A consumed event's trace continues into what the handler publishes.
    at = parse_time((await harness.lead(lead["id"]))["audit"]["requestedAt"])
    envelope = writeback_completed(lead["id"], run_id, at)
    downstream = "0af7651916cd43dd8448eb211c80319c"
    from servicekit.testing import envelope_record, publish_raw

    key, value, hdrs = envelope_record(envelope)
    hdrs.append(("traceparent", f"00-{downstream}-b7ad6b7169203331-01".encode()))
    await publish_raw(harness.bootstrap_servers, harness.topic(WRITEBACK_COMPLETED), [(key, value, hdrs)])
    await wait_until(lambda: _status_is(harness, lead["id"], "email_generated"), what="email_generated")

    async def changed_with_trace() -> bool:
        records = await read_topic(harness.bootstrap_servers, harness.topic(LEAD_STATUS_CHANGED), expected=10_000,
                                   timeout_s=2)
        for rec in records:
            body = _json.loads(rec.value)
            if body["lead_id"] == lead["id"] and body["data"]["to_status"] == "email_generated":
                return dict(rec.headers)[b"traceparent".decode()].decode().split("-")[1] == downstream
        return False

    await wait_until(changed_with_trace, timeout_s=15, what="LeadStatusChanged carrying the consumed trace")
