"""Threads listing, mailboxes and mark-read against the PlusVibe simulator over real HTTP (SQLite store)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from unibox_testkit import READ, WRITE, enrol, settings_for

from plusvibe.client import PlusVibeClient
from plusvibe.testing import Sim
from servicekit.process.tables import outbox
from servicekit.testing import Database

XSS_REPLY = '<p>Thanks, <b>send it</b></p><script>alert(1)</script><img src=x onerror="alert(1)">'


async def test_threads_are_the_contacts_only_newest_first_sanitised_and_cached_until_refresh(
    sim: Sim, sqlite_database: Database, running_app: Any
) -> None:
    enrol(sim, "ana@example.test")
    enrol(sim, "bob@example.test")
    sim.state.tick()  # step 1 to both
    sim.state.inject_reply("ana@example.test", "Thanks, send it", html=XSS_REPLY)
    sim.state.unibox_page_size = 1  # every message on its own page: the listing must walk page_trail
    async with running_app(settings_for(sqlite_database), plusvibe=PlusVibeClient(sim.settings())) as (_, http, _s):
        empty = await http.get("/api/unibox/threads", params={"email": "nobody@example.test"}, headers=READ)
        assert (empty.status_code, empty.json()) == (200, [])

        res = await http.get("/api/unibox/threads", params={"email": "Ana@Example.test"}, headers=READ)
        assert res.status_code == 200
        threads = res.json()
        assert len(threads) == 1
        messages = threads[0]["messages"]
        assert [m["direction"] for m in messages] == ["in", "out"]  # newest first
        assert all("bob@example.test" not in [m["from"], *m["to"]] for m in messages)
        inbound = messages[0]
        assert inbound["from"] == "ana@example.test"
        assert inbound["isRead"] is False
        assert "<script" not in inbound["html"] and "onerror" not in inbound["html"]
        assert "<b>send it</b>" in inbound["html"]
        assert inbound["text"] == "Thanks, send it"
        assert threads[0]["replyToId"] == inbound["id"]
        assert threads[0]["unread"] is True
        assert threads[0]["subject"] == messages[1]["subject"] == "Your website"

        sim.state.inject_reply("ana@example.test", "One more thing")
        cached = await http.get("/api/unibox/threads", params={"email": "ana@example.test"}, headers=READ)
        assert len(cached.json()[0]["messages"]) == 2
        fresh = await http.get("/api/unibox/threads", params={"email": "ana@example.test", "refresh": "true"},
                               headers=READ)
        assert fresh.json()[0]["messages"][0]["text"] == "One more thing"
        assert len(fresh.json()[0]["messages"]) == 3

        bad = await http.get("/api/unibox/threads", params={"email": "not-an-address"}, headers=READ)
        assert (bad.status_code, bad.json()["reason"]) == (422, "invalid_email")


async def test_mark_read_marks_the_thread_in_plusvibe_and_emits_thread_marked_read(
    sim: Sim, sqlite_database: Database, running_app: Any
) -> None:
    enrol(sim, "ana@example.test")
    sim.state.tick()
    reply = sim.state.inject_reply("ana@example.test", "Interested")
    thread_id = reply["thread_id"]
    async with running_app(settings_for(sqlite_database), plusvibe=PlusVibeClient(sim.settings())) as (_, http, svc):
        res = await http.post(f"/api/unibox/threads/{thread_id}/read", json={"email": "ana@example.test"},
                              headers=WRITE)
        assert res.status_code == 200, res.text
        assert res.json()["threadId"] == thread_id
        assert all(e["is_unread"] == 0 for e in sim.state.emails if e["thread_id"] == thread_id)
        async with svc.runtime.engine.connect() as conn:
            rows = (await conn.execute(select(outbox.c.event_type, outbox.c.payload))).all()
        assert [r.event_type for r in rows] == ["ThreadMarkedRead"]
        assert thread_id.encode() in rows[0].payload

        listed = await http.get("/api/unibox/threads", params={"email": "ana@example.test", "refresh": "true"},
                                headers=READ)
        assert listed.json()[0]["unread"] is False

        missing = await http.post("/api/unibox/threads/000000000000000000000000/read", headers=WRITE)
        assert (missing.status_code, missing.json()["reason"]) == (404, "thread_not_found")


async def test_mailboxes_lists_the_connected_sending_accounts(
    sim: Sim, sqlite_database: Database, running_app: Any
) -> None:
    async with running_app(settings_for(sqlite_database), plusvibe=PlusVibeClient(sim.settings())) as (_, http, _s):
        res = await http.get("/api/unibox/mailboxes", headers=READ)
    assert res.status_code == 200
    assert sorted(m["email"] for m in res.json()) == ["alex@sender-one.test", "sam@sender-two.test"]
    assert {m["name"] for m in res.json()} == {"Alex Moreau", "Sam Keller"}
