"""Workspaces are first-class: two platform workspaces in one deployment (`WORKSPACES=default,acme`), each connected to
its own PlusVibe account (two simulators over real HTTP), each reached by its own API key, one PostgreSQL schema.
What one workspace holds — threads, mailboxes, leads, replies and their idempotency keys — is invisible from the
other: every documented route with a path parameter answers the other workspace's id exactly as a missing id (the
set of routes covered is checked against the OpenAPI, so a new route without coverage fails here), listings show only
the workspace's own rows, and what a route emits carries its workspace and its workspace's lead.

Two simulators rather than two workspaces of one: a PlusVibe key reaches its own workspace only, which one simulator
does not model for every call (its mark-read finds a thread of any workspace)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from unibox_testkit import (
    ACME,
    ACME_MAILBOX,
    WORKSPACE_HEADERS,
    WORKSPACE_KEYS_JSON,
    PortsByWorkspace,
    client_account,
    enrol,
    settings_for,
)

from contracts.common import Contact, LeadSnapshot
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.status import LeadStatus
from plusvibe.client import PlusVibeClient
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import Sim, running_simulator
from servicekit.process.tables import outbox
from servicekit.testing import Database
from unibox.adapters.orm import reply_intents
from unibox.bootstrap import UniboxService

pytestmark = [pytest.mark.postgres]
WEBHOOKS = "/api/plusvibe/webhooks"
ANA = "ana@example.test"  # a contact (and a lead) of both workspaces
MISSING_THREAD = "f" * 24  # the shape of a PlusVibe id, known to neither account


@pytest.fixture(scope="module")
def acme_sim_server() -> Iterator[tuple[str, SimulatorState]]:
    """Acme's own PlusVibe account: a second simulator, nothing shared with the default workspace's."""
    with running_simulator(SimulatorState(api_key="acme-pv-key"), seed=None) as running:
        yield running


@pytest.fixture
def acme_sim(acme_sim_server: tuple[str, SimulatorState]) -> Sim:
    base_url, state = acme_sim_server
    state.reset()
    return client_account(base_url, state)  # its own mailbox and campaign


async def _project(service: UniboxService, workspace: str, email: str) -> uuid.UUID:
    lead_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with service.uow() as uow:
        await uow.leads.apply(LeadSnapshot(lead_id=lead_id, version=1, contact=Contact(email=email),
                                           status=LeadStatus.EMAIL_SENT, created_at=now, updated_at=now),
                              deleted=False, at=now, workspace=workspace)
        await uow.commit()
    return lead_id


def _threads_of(sim: Sim) -> set[str]:
    with sim.state.lock:
        return {e["thread_id"] for e in sim.state.emails}


def _replies(sim: Sim) -> list[str]:
    with sim.state.lock:
        return [e["id"] for e in sim.state.emails if e["direction"] == "OUT" and e["subject"] == "Re: Your website"]


def _unread(sim: Sim, thread_id: str) -> bool:
    with sim.state.lock:
        return any(e["is_unread"] for e in sim.state.emails if e["thread_id"] == thread_id)


async def _emitted(service: UniboxService, event_type: str) -> list[dict[str, Any]]:
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).where(outbox.c.event_type == event_type)
                                   .order_by(outbox.c.id))).scalars().all()
    return [json.loads(r) for r in rows]


def _parameterised_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every documented (method, path) with a path parameter, but the webhook receivers (a secret, no workspace
    header: their workspace is the path parameter itself, covered by test_unibox_workspace_webhooks)."""
    return {(method.upper(), path) for path, operations in app.openapi()["paths"].items()
            if "{" in path and not path.startswith(WEBHOOKS) for method in operations}


# Per parameterised route: a request for an id, in the workspace its headers name.
Call = Callable[[httpx.AsyncClient, dict[str, str], str], Awaitable[httpx.Response]]


async def _mark_read(http: httpx.AsyncClient, headers: dict[str, str], thread_id: str) -> httpx.Response:
    return await http.post(f"/api/unibox/threads/{thread_id}/read", json={"email": ANA}, headers=headers)


COVERED: dict[tuple[str, str], Call] = {
    ("POST", "/api/unibox/threads/{thread_id}/read"): _mark_read,
}


async def test_a_workspace_never_sees_or_touches_another_workspaces_data(
    sim: Sim, acme_sim: Sim, pg_database: Database, running_app: Any
) -> None:
    enrol(sim, ANA)
    enrol(acme_sim, ANA)
    sim.state.tick()
    acme_sim.state.tick()
    own = {DEFAULT_WORKSPACE: sim.state.inject_reply(ANA, "Default: send the report"),
           ACME: acme_sim.state.inject_reply(ANA, "Acme: call me")}
    thread = {w: str(own[w]["thread_id"]) for w in own}
    sims = {DEFAULT_WORKSPACE: sim, ACME: acme_sim}
    # Each account knows only its own thread: an id of the other workspace is unknown where it is asked about.
    assert thread[DEFAULT_WORKSPACE] not in _threads_of(acme_sim) and thread[ACME] not in _threads_of(sim)
    other = {DEFAULT_WORKSPACE: ACME, ACME: DEFAULT_WORKSPACE}
    ports = PortsByWorkspace({DEFAULT_WORKSPACE: PlusVibeClient(sim.settings()),
                              ACME: PlusVibeClient(acme_sim.settings())})
    settings = settings_for(pg_database, workspaces=f"{DEFAULT_WORKSPACE},{ACME}", api_keys_json=WORKSPACE_KEYS_JSON)
    # Each workspace's own PlusVibe account.
    async with running_app(settings, plusvibe_ports=ports) as (app, http, service):
        lead = {w: await _project(service, w, ANA) for w in (DEFAULT_WORKSPACE, ACME)}

        # Listings: only the workspace's own (asked one after the other: no cache serves the first one's).
        listed = {w: await http.get("/api/unibox/threads", params={"email": ANA}, headers=WORKSPACE_HEADERS[w])
                  for w in (DEFAULT_WORKSPACE, ACME)}
        mailboxes = {w: await http.get("/api/unibox/mailboxes", headers=WORKSPACE_HEADERS[w])
                     for w in (DEFAULT_WORKSPACE, ACME)}

        # Every parameterised route: the other workspace's id answers exactly as a missing id, and changes nothing.
        crossed: dict[tuple[tuple[str, str], str], tuple[httpx.Response, httpx.Response]] = {}
        for route, call in COVERED.items():
            for w in (DEFAULT_WORKSPACE, ACME):
                crossed[route, w] = (await call(http, WORKSPACE_HEADERS[w], thread[other[w]]),
                                     await call(http, WORKSPACE_HEADERS[w], MISSING_THREAD))
        still_unread = {w: _unread(sims[w], thread[w]) for w in sims}
        marked = {w: await _mark_read(http, WORKSPACE_HEADERS[w], thread[w]) for w in (DEFAULT_WORKSPACE, ACME)}

        # Replies: one idempotency key in both workspaces is two replies, each through its own account.
        def reply(w: str, reply_to: str) -> dict[str, Any]:
            return {"replyToId": reply_to, "from": "alex@sender-one.test" if w == DEFAULT_WORKSPACE else
                    ACME_MAILBOX, "to": ANA, "subject": "Re: Your website",
                    "bodyHtml": "<p>Here it is</p>", "idempotencyKey": "shared-key"}

        sent_default = await http.post("/api/unibox/replies",
                                       json=reply(DEFAULT_WORKSPACE, own[DEFAULT_WORKSPACE]["id"]),
                                       headers=WORKSPACE_HEADERS[DEFAULT_WORKSPACE])
        # The default workspace's request, key and message id, asked in acme: not a replay; acme's PlusVibe does
        # not know the message, exactly as for an id nobody knows.
        foreign = await http.post("/api/unibox/replies", json=reply(DEFAULT_WORKSPACE, own[DEFAULT_WORKSPACE]["id"]),
                                  headers=WORKSPACE_HEADERS[ACME])
        unknown = await http.post("/api/unibox/replies", json={**reply(ACME, MISSING_THREAD),
                                                               "idempotencyKey": "unknown-key"},
                                  headers=WORKSPACE_HEADERS[ACME])
        sent_acme = await http.post("/api/unibox/replies", json={**reply(ACME, own[ACME]["id"]),
                                                                 "idempotencyKey": "acme-key"},
                                    headers=WORKSPACE_HEADERS[ACME])
        replayed_default = await http.post("/api/unibox/replies",
                                           json=reply(DEFAULT_WORKSPACE, own[DEFAULT_WORKSPACE]["id"]),
                                           headers=WORKSPACE_HEADERS[DEFAULT_WORKSPACE])
        async with service.runtime.engine.connect() as conn:
            intents = {(r.workspace, r.idempotency_key): (r.status, r.lead_id) for r in await conn.execute(
                select(reply_intents.c.workspace, reply_intents.c.idempotency_key, reply_intents.c.status,
                       reply_intents.c.lead_id))}
        thread_events = await _emitted(service, "ThreadMarkedRead")
        reply_events = await _emitted(service, "ReplySent")
        routes = _parameterised_routes(app)

    assert set(COVERED) == routes  # a new parameterised route must be covered here
    for (route, w), (theirs, missing) in crossed.items():
        assert theirs.status_code == missing.status_code == 404, (route, w, theirs.text)
        assert theirs.json() == missing.json(), (route, w)
    assert still_unread == {DEFAULT_WORKSPACE: True, ACME: True}  # nothing the other workspace asked reached it
    assert [marked[w].status_code for w in marked] == [200, 200]
    assert not _unread(sim, thread[DEFAULT_WORKSPACE]) and not _unread(acme_sim, thread[ACME])
    assert sorted((e["workspace_id"], e["data"]["thread_id"], e["lead_id"]) for e in thread_events) == sorted(
        (w, thread[w], str(lead[w])) for w in (DEFAULT_WORKSPACE, ACME))

    for w in (DEFAULT_WORKSPACE, ACME):
        assert listed[w].status_code == 200 and mailboxes[w].status_code == 200
        assert [t["threadId"] for t in listed[w].json()] == [thread[w]]
    assert listed[DEFAULT_WORKSPACE].json()[0]["messages"][0]["text"] == "Default: send the report"
    assert listed[ACME].json()[0]["messages"][0]["text"] == "Acme: call me"
    assert sorted(m["email"] for m in mailboxes[DEFAULT_WORKSPACE].json()) == ["alex@sender-one.test",
                                                                               "sam@sender-two.test"]
    assert [m["email"] for m in mailboxes[ACME].json()] == [ACME_MAILBOX]

    assert sent_default.status_code == 201 and sent_acme.status_code == 201, (sent_default.text, sent_acme.text)
    assert "Idempotent-Replayed" not in foreign.headers
    assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())
    assert (foreign.status_code, foreign.json()["reason"]) == (404, "reply_to_not_found")
    assert replayed_default.headers["Idempotent-Replayed"] == "true"  # its own key still replays in default
    assert replayed_default.json() == sent_default.json()
    assert intents == {(DEFAULT_WORKSPACE, "shared-key"): ("sent", lead[DEFAULT_WORKSPACE]),
                       (ACME, "shared-key"): ("failed", lead[ACME]),
                       (ACME, "unknown-key"): ("failed", lead[ACME]),
                       (ACME, "acme-key"): ("sent", lead[ACME])}
    assert sorted((e["workspace_id"], e["data"]["reply_id"], e["lead_id"]) for e in reply_events) == sorted([
        (DEFAULT_WORKSPACE, sent_default.json()["replyId"], str(lead[DEFAULT_WORKSPACE])),
        (ACME, sent_acme.json()["replyId"], str(lead[ACME]))])
    # Each reply went out of its own account only.
    assert _replies(sim) == [sent_default.json()["plusvibeEmailId"]]
    assert _replies(acme_sim) == [sent_acme.json()["plusvibeEmailId"]]


async def test_a_key_of_one_workspace_does_not_reach_the_other(pg_database: Database, running_app: Any) -> None:
    settings = settings_for(pg_database, workspaces=f"{DEFAULT_WORKSPACE},{ACME}", api_keys_json=WORKSPACE_KEYS_JSON)
    ports = PortsByWorkspace({})  # no PlusVibe call may happen
    async with running_app(settings, plusvibe_ports=ports) as (_, http, _s):
        answers = [await http.get("/api/unibox/mailboxes",
                                  headers={**WORKSPACE_HEADERS[w], "x-workspace": other})
                   for w, other in ((DEFAULT_WORKSPACE, ACME), (ACME, DEFAULT_WORKSPACE))]
    assert [(a.status_code, a.json()["reason"]) for a in answers] == [(404, "workspace_not_found")] * 2
