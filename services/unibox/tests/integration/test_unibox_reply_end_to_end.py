"""A reply end to end against the simulator over real HTTP: the first call is applied and its connection
dropped; the service reconciles by reading the thread and PlusVibe holds exactly one reply with the sanitised
body. ReplySent reaches the real broker once; a retried request returns the same result."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select
from unibox_testkit import WRITE, enrol, settings_for

from contracts.topics import REPLY_SENT
from outreach_ops.topic_admin import ensure_topics
from plusvibe.client import PlusVibeClient
from plusvibe.simulator.faults import FaultRule
from plusvibe.testing import Sim
from servicekit.testing import Database, read_topic
from unibox.adapters.orm import reply_intents
from unibox.domain.sanitise import sanitise_html

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
REPLY_PATH = "/api/v1/unibox/emails/reply"
BODY = ('<p>Hi Ana, here is the <a href="https://report.example.test/r/1" onclick="x()">report</a>.</p>'
        '<script>fetch("//evil.test")</script><svg onload=alert(1)></svg><img src=x onerror=alert(1)>')


def replies_in_sim(sim: Sim, subject: str) -> list[dict[str, Any]]:
    with sim.state.lock:
        return [dict(e) for e in sim.state.emails if e["direction"] == "OUT" and e["subject"] == subject]


async def test_an_applied_then_dropped_reply_is_sent_exactly_once_and_reconciled(
    sim: Sim, pg_database: Database, kafka_bootstrap: str, topic_prefix: str, running_app: Any
) -> None:
    await ensure_topics(kafka_bootstrap, [REPLY_SENT], prefix=topic_prefix)
    enrol(sim, "ana@example.test")
    sim.state.tick()
    inbound = sim.state.inject_reply("ana@example.test", "Sounds good, send details")
    sim.state.faults.add(FaultRule(path=REPLY_PATH, method="POST", drop="after", times=1))
    request = {"replyToId": inbound["id"], "from": "alex@sender-one.test", "to": "ana@example.test",
               "subject": "Re: Your website\r\nBcc: everyone@example.test", "bodyHtml": BODY,
               "idempotencyKey": "reply-0001"}
    settings = settings_for(pg_database, kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix)
    async with running_app(settings, plusvibe=PlusVibeClient(sim.settings()), embedded_workers=True) as (
            _, http, service):
        first = await http.post("/api/unibox/replies", json=request, headers=WRITE)
        assert first.status_code == 201, first.text
        assert first.json()["reconciled"] is True  # the send's answer was lost; the thread showed it went out
        again = await http.post("/api/unibox/replies", json=request, headers=WRITE)
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        reused = await http.post("/api/unibox/replies", json={**request, "bodyHtml": "<p>other</p>"}, headers=WRITE)
        assert (reused.status_code, reused.json()["reason"]) == (409, "idempotency_key_reused")

        # The Idempotency-Key header works too; no fault this time, so no reconciliation needed.
        second = await http.post("/api/unibox/replies", headers={**WRITE, "Idempotency-Key": "reply-0002"},
                                 json={**request, "idempotencyKey": None, "subject": "Re: follow-up",
                                       "bodyHtml": "<p>Follow-up</p>"})
        assert second.status_code == 201, second.text
        assert second.json()["reconciled"] is False

        async with service.runtime.engine.connect() as conn:
            statuses = (await conn.execute(select(reply_intents.c.idempotency_key, reply_intents.c.status)
                                           .order_by(reply_intents.c.idempotency_key))).all()
        events = await read_topic(kafka_bootstrap, f"{topic_prefix}{REPLY_SENT.name}", expected=3, timeout_s=4)

    sent = replies_in_sim(sim, "Re: Your website Bcc: everyone@example.test")
    assert len(sent) == 1  # exactly one reply, despite the dropped connection and the retried request
    assert sent[0]["body"]["html"] == sanitise_html(BODY)
    for marker in ("<script", "onclick", "onerror", "<svg", "evil.test"):
        assert marker not in sent[0]["body"]["html"]
    assert 'href="https://report.example.test/r/1"' in sent[0]["body"]["html"]
    assert sent[0]["thread_id"] == inbound["thread_id"]
    assert first.json()["plusvibeEmailId"] == sent[0]["id"]
    assert len(sim.state.request_log(REPLY_PATH)) == 2  # one call per idempotency key, never a resend
    assert [tuple(s) for s in statuses] == [("reply-0001", "sent"), ("reply-0002", "sent")]
    data = sorted((json.loads(e.value)["data"] for e in events), key=lambda d: d["subject"])
    assert [(d["subject"], d["plusvibe_email_id"]) for d in data] == [
        ("Re: Your website Bcc: everyone@example.test", sent[0]["id"]),
        ("Re: follow-up", second.json()["plusvibeEmailId"]),
    ]
    assert data[0]["reply_id"] == first.json()["replyId"]


async def test_a_dropped_reply_that_is_not_in_the_thread_is_not_resent(
    sim: Sim, pg_database: Database, running_app: Any
) -> None:
    enrol(sim, "ana@example.test")
    sim.state.tick()
    inbound = sim.state.inject_reply("ana@example.test", "ok")
    # Dropped BEFORE PlusVibe applied it: the outcome is unknown to the client and the thread does not show it.
    sim.state.faults.add(FaultRule(path=REPLY_PATH, method="POST", drop="before", times=1))
    request = {"replyToId": inbound["id"], "from": "alex@sender-one.test", "to": "ana@example.test",
               "subject": "Re: x", "bodyHtml": "<p>x</p>", "idempotencyKey": "reply-lost"}
    async with running_app(settings_for(pg_database), plusvibe=PlusVibeClient(sim.settings())) as (_, http, _s):
        first = await http.post("/api/unibox/replies", json=request, headers=WRITE)
        retry = await http.post("/api/unibox/replies", json=request, headers=WRITE)
    assert (first.status_code, first.json()["reason"]) == (502, "reply_outcome_unknown")
    assert (retry.status_code, retry.json()["reason"]) == (502, "reply_outcome_unknown")
    assert len(sim.state.request_log(REPLY_PATH)) == 1  # the retry only read the thread
    assert replies_in_sim(sim, "Re: x") == []


async def test_two_concurrent_requests_with_one_key_send_once(
    sim: Sim, pg_database: Database, running_app: Any
) -> None:
    enrol(sim, "ana@example.test")
    sim.state.tick()
    inbound = sim.state.inject_reply("ana@example.test", "ok")
    sim.state.faults.add(FaultRule(path=REPLY_PATH, method="POST", delay_s=0.5, times=1))  # first send is slow
    request = {"replyToId": inbound["id"], "from": "alex@sender-one.test", "to": "ana@example.test",
               "subject": "Re: twice", "bodyHtml": "<p>once</p>", "idempotencyKey": "reply-race"}
    async with running_app(settings_for(pg_database), plusvibe=PlusVibeClient(sim.settings())) as (_, http, _s):
        first, second = await asyncio.gather(
            http.post("/api/unibox/replies", json=request, headers=WRITE),
            http.post("/api/unibox/replies", json=request, headers=WRITE),
        )
        after = await http.post("/api/unibox/replies", json=request, headers=WRITE)
    codes = sorted([first.status_code, second.status_code])
    assert codes == [201, 409], (first.text, second.text)
    loser = first if first.status_code == 409 else second
    assert loser.json()["reason"] == "reply_in_progress"
    assert after.status_code == 201
    assert len(replies_in_sim(sim, "Re: twice")) == 1
    assert len(sim.state.request_log(REPLY_PATH)) == 1
