"""AuditRequested → AuditStarted → AuditCompleted | AuditFailed through the real broker and PostgreSQL, with
the service's consumer, audit worker and outbox relay running in-process against a loopback test site."""

from __future__ import annotations

import asyncio
import uuid
from html import escape

from audits_harness import (
    OTHER_SCOPE_KEY,
    PUBLIC_BASE,
    HarnessFactory,
    audit_requested,
    expected_good_profile,
    request_data,
)
from sites import LoopbackSite, good_routes, html_page

from audits.adapters.orm import AuditRunRow
from audits.domain.findings import NO_ISSUES, phrase
from audits.domain.grading import Status
from audits.engine import Ports
from contracts import topics
from contracts.audits import AuditCompleted, AuditFailed, AuditStarted


async def test_audit_of_loopback_site_emits_started_then_completed_with_the_exact_profile(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    request = audit_requested()
    data = request_data(request)
    await h.request(request)

    [completed_env] = await h.events(topics.AUDIT_COMPLETED, expected=1)
    [started_env] = await h.events(topics.AUDIT_STARTED, expected=1)
    started = AuditStarted.model_validate(started_env.data)
    completed = AuditCompleted.model_validate(completed_env.data)
    assert started.audit_run_id == completed.audit_run_id == data.audit_run_id
    assert started_env.occurred_at <= completed_env.occurred_at
    for env in (started_env, completed_env):
        assert env.causation_id == request.event_id
        assert env.correlation_id == request.event_id
        assert env.lead_id == data.lead_id
    assert completed.requested_at == data.requested_at
    assert completed.domain == "good.test"

    async with h.service.runtime.uow() as uow:
        row = await uow.runs.get(data.audit_run_id)
        assert row is not None and row.status == "completed" and row.attempts == 1
        slug = row.report_slug
    report_url = f"{PUBLIC_BASE}/r/{slug}"
    assert len(slug) == 32  # token_urlsafe(24): 192 random bits
    assert completed.report_url == report_url
    assert completed.profile.model_dump() == expected_good_profile(audit_url=report_url)
    assert (completed.grade, completed.score) == ("A", 100)
    assert completed.category_scores.model_dump() == {
        "seo": 100, "performance": 100, "security": 100, "mobile": 100, "accessibility": 100}
    assert completed.top_issue == NO_ISSUES
    assert completed.summary.startswith("good.test scores 100/100 (grade A)")

    r = await h.client.get(f"/api/audits/{data.audit_run_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed"
    assert body["reportUrl"] == report_url
    assert body["profile"] == completed.profile.model_dump()
    assert body["grade"] == "A" and body["score"] == 100 and body["errorMessage"] is None
    assert body["categories"] == completed.category_scores.model_dump()
    assert len(body["checks"]) == 31 and {c["status"] for c in body["checks"]} == {"PASS"}
    assert body["result"]["final_url"] == f"https://good.test:{h.site.https_port}/"


async def test_findings_appear_escaped_on_the_public_report_page(make_harness: HarnessFactory) -> None:
    page = html_page(description=None, h1s=0, images_without_alt=2)
    h = await make_harness(site_kwargs={"routes": good_routes(page)})
    request = audit_requested()
    await h.request(request)
    [env] = await h.events(topics.AUDIT_COMPLETED, expected=1)
    completed = AuditCompleted.model_validate(env.data)
    assert completed.profile.meta_description_status == "missing"
    assert completed.profile.h1_status == "missing"
    slug = completed.report_url.rsplit("/", 1)[1]

    r = await h.client.get(f"/r/{slug}", headers={"X-API-Key": ""})  # public: no key needed
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    html = r.text
    assert f"Website report for good.test - grade {completed.grade}" in html
    assert f"<strong>{completed.score}/100</strong>" in html
    h1_finding = phrase("seo.h1", Status.FAIL)
    assert escape(h1_finding) in html
    assert escape(completed.top_issue) in html
    if "'" in h1_finding:
        assert h1_finding not in html  # apostrophes are escaped too
    assert "<script" not in html.lower()
    assert html.count('class="badge fail"') >= 2

    missing = await h.client.get("/r/" + "x" * 32)
    assert missing.status_code == 404 and "Report not found" in missing.text


async def test_unresolvable_domain_emits_audit_failed_with_an_operator_message(make_harness: HarnessFactory) -> None:
    h = await make_harness()
    request = audit_requested("no-such-shop.test")
    data = request_data(request)
    await h.request(request)

    [env] = await h.events(topics.AUDIT_FAILED, expected=1)
    failed = AuditFailed.model_validate(env.data)
    assert failed.audit_run_id == data.audit_run_id
    assert failed.error_kind == "dns_failure"
    assert "no-such-shop.test" in failed.error_message
    assert failed.requested_at == data.requested_at
    assert env.causation_id == request.event_id
    assert h.resolver.calls["no-such-shop.test"] >= 1
    assert h.site.https is not None and h.site.https.hits == 0  # nothing was fetched

    r = await h.client.get(f"/api/audits/{data.audit_run_id}")
    body = r.json()
    assert body["status"] == "failed"
    assert body["errorKind"] == "dns_failure"
    assert body["errorMessage"] == failed.error_message
    assert body["reportUrl"] is None and body["profile"] is None
    assert await h.events(topics.AUDIT_COMPLETED, expected=1, timeout_s=0.5) == []


async def test_redelivered_request_runs_the_audit_once_and_completes_once(make_harness: HarnessFactory) -> None:
    h = await make_harness()
    request = audit_requested()
    data = request_data(request)
    await h.request(request)
    await h.events(topics.AUDIT_COMPLETED, expected=1)

    # The same record again (redelivery) and a new event for the same run (a re-sent request).
    again = audit_requested(run_id=data.audit_run_id, lead_id=data.lead_id, requested_at=data.requested_at)
    await h.request(request, again)
    consumer = h.service.runtime.consumers[0]

    async def settled() -> bool:
        return consumer.stats.duplicates + consumer.stats.applied >= 3

    deadline = asyncio.get_running_loop().time() + 20
    while not await settled():
        assert asyncio.get_running_loop().time() < deadline, consumer.stats
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # give a (wrong) second audit time to be claimed and finish

    assert consumer.stats.duplicates == 1  # the identical event: skipped by the inbox
    completed = await h.events(topics.AUDIT_COMPLETED, expected=2, timeout_s=2)
    started = await h.events(topics.AUDIT_STARTED, expected=2, timeout_s=1)
    assert len(completed) == 1 and len(started) == 1
    async with h.service.runtime.uow() as uow:
        rows = (await uow.session.execute(AuditRunRow.__table__.select())).all()
    assert len(rows) == 1 and rows[0].attempts == 1 and rows[0].request_event_id == request.event_id
    assert h.site.https is not None
    assert sum(1 for r in h.site.https.requests if r.path == "/") == 1


async def test_api_refuses_without_key_and_reports_unknown_runs(make_harness: HarnessFactory) -> None:
    h = await make_harness()
    run_id = uuid.uuid4()
    no_key = await h.client.get(f"/api/audits/{run_id}", headers={"X-API-Key": ""})
    assert no_key.status_code == 401 and no_key.json()["reason"] == "api_key_missing"
    wrong = await h.client.get(f"/api/audits/{run_id}", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json()["reason"] == "api_key_invalid"
    scoped = await h.client.get(f"/api/audits/{run_id}", headers={"X-API-Key": OTHER_SCOPE_KEY})
    assert scoped.status_code == 403 and scoped.json()["reason"] == "scope_missing"
    unknown = await h.client.get(f"/api/audits/{run_id}")
    assert unknown.status_code == 404 and unknown.json()["reason"] == "audit_not_found"
    invalid = await h.client.get("/api/audits/not-a-uuid")
    assert invalid.status_code == 404 and invalid.json()["reason"] == "audit_not_found"
    health = await h.client.get("/health/live", headers={"X-API-Key": ""})
    assert health.status_code == 200


async def test_domain_resolving_to_a_non_allowlisted_loopback_port_fails_blocked_without_a_connection(
    make_harness: HarnessFactory, canary: LoopbackSite
) -> None:
    # evil.test points at the canary on 127.0.0.1; the allowlist names good.test and its two ports only.
    h = await make_harness(extra_ports={"evil.test": Ports(https=canary.port, http=canary.port)})
    h.resolver.addresses["evil.test"] = ["127.0.0.1"]
    request = audit_requested("evil.test")
    await h.request(request)

    [env] = await h.events(topics.AUDIT_FAILED, expected=1)
    failed = AuditFailed.model_validate(env.data)
    assert failed.error_kind == "blocked_address"
    assert "evil.test" in failed.error_message
    assert canary.hits == 0
