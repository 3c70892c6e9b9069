"""A lead's timeline through the API: created, audit requested (by whom), audit completed with its grade, copy
written back, previews generated, an operator's status change and every PlusVibe webhook (with its raw payload), newest
first, paged; the entries come from the real consumers applying the events from the broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leads_testkit import Harness, audit_completed, parse_time, writeback_completed

from contracts.envelope import Envelope
from contracts.topics import AUDIT_COMPLETED, EMAIL_ACTIVITY_RECEIVED, WRITEBACK_COMPLETED
from contracts.unibox import EmailActivityReceived
from servicekit.messaging.events import new_envelope
from servicekit.testing import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_the_timeline_tells_the_leads_story_newest_first_and_pages(harness: Harness) -> None:
    lead = await harness.create_lead()
    lead_id = lead["id"]
    run_id = (await harness.client.post(f"/api/leads/{lead_id}/audits")).json()["auditRunId"]
    requested_at = parse_time((await harness.lead(lead_id))["audit"]["requestedAt"])
    await harness.publish(AUDIT_COMPLETED, audit_completed(lead_id, run_id, requested_at, grade="B"))
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(lead_id, run_id, requested_at, steps=2))

    async def generated() -> bool:
        return (await harness.lead(lead_id))["status"] == "email_generated"

    await wait_until(generated, timeout_s=30, what="the lead to reach email_generated through the consumers")
    assert (await harness.client.post(f"/api/leads/{lead_id}/emails", json={"steps": 1})).status_code == 201
    assert (await harness.client.patch(f"/api/leads/{lead_id}", json={"status": "retargeted"})).status_code == 200

    r = await harness.client.get(f"/api/leads/{lead_id}/timeline")
    assert r.status_code == 200, r.text
    page = r.json()
    items = page["items"]
    assert page["total"] == len(items) and page["page"] == 1
    kinds = [i["kind"] for i in items]
    # Newest first: the operator's change, then the previews, back to the lead's creation.
    assert kinds[0] == "status" and items[0]["title"].endswith("→ retargeted") and items[0]["actor"]
    assert "preview" in kinds and "writeback" in kinds and "audit_completed" in kinds and "audit_requested" in kinds
    assert kinds.index("preview") < kinds.index("writeback") < kinds.index("audit_completed") \
        < kinds.index("audit_requested")
    assert items[-1]["kind"] == "status" and items[-1]["title"] == "Status created as new"
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    completed = next(i for i in items if i["kind"] == "audit_completed")
    assert completed["title"] == "Audit completed: grade B" and completed["detail"] == "score 72"
    written = next(i for i in items if i["kind"] == "writeback")
    assert written["title"] == "Copy stored (not delivered to PlusVibe)" and written["detail"] == "2 steps"

    first = (await harness.client.get(f"/api/leads/{lead_id}/timeline", params={"pageSize": 2})).json()
    second = (await harness.client.get(f"/api/leads/{lead_id}/timeline", params={"pageSize": 2, "page": 2})).json()
    assert first["items"] + second["items"] == items[:4] and first["total"] == page["total"]
    bad = await harness.client.get(f"/api/leads/{lead_id}/timeline", params={"pageSize": 0})
    assert bad.status_code == 422


def _webhook(lead_id: str, activity: str, event: str, at: datetime, **raw: Any) -> Envelope:
    return new_envelope(EmailActivityReceived(
        lead_id=uuid.UUID(lead_id), activity=activity, webhook_event=event,  # type: ignore[arg-type]
        label=raw.get("label"), subject=raw.get("subject"), observed_at=at,
        raw_payload={"webhook_event": event, **raw}))


async def test_every_webhook_is_kept_with_its_payload_and_told_once(harness: Harness) -> None:
    lead_id = (await harness.create_lead())["id"]
    at = datetime.now(UTC) - timedelta(minutes=5)
    sent = _webhook(lead_id, "sent", "EMAIL_SENT", at, subject="Quick idea")
    reply = _webhook(lead_id, "replied", "ALL_EMAIL_REPLIES", at + timedelta(minutes=1), subject="Re: Quick idea",
                     text_body="Yes <b>please</b>, call me.")
    label = _webhook(lead_id, "label_changed", "LEAD_MARKED_AS_INTERESTED", at + timedelta(minutes=2),
                     label="INTERESTED")
    unknown = _webhook(lead_id, "other", "BRAND_NEW_EVENT", at + timedelta(minutes=3), note="kept too")
    await harness.publish(EMAIL_ACTIVITY_RECEIVED, sent, reply, reply, label, unknown)  # the reply delivered twice

    async def hooks() -> list[dict[str, Any]]:
        items = (await harness.client.get(f"/api/leads/{lead_id}/timeline")).json()["items"]
        return [i for i in items if i["kind"] in ("webhook", "reply")]

    async def all_four() -> bool:
        return len(await hooks()) >= 4

    await wait_until(all_four, timeout_s=30, what="the four webhooks on the timeline")
    told = await hooks()
    assert [(i["kind"], i["title"]) for i in told] == [
        ("webhook", "PlusVibe webhook BRAND_NEW_EVENT"), ("webhook", "Labelled INTERESTED in PlusVibe"),
        ("reply", "Reply received"), ("webhook", "Email sent")]
    assert told[2]["detail"] == "“Re: Quick idea” · Yes please, call me."
    assert [i["raw"] for i in told] == [e.data["raw_payload"] for e in (unknown, label, reply, sent)]
    assert told[0]["raw"]["note"] == "kept too"  # a webhook leads does not act on is still kept
