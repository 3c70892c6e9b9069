"""Each platform workspace calls PlusVibe with the integration connected for it (PlusVibeIntegrationChanged, sealed
under the KEK), against the simulator over real HTTP and PostgreSQL: a reply in acme goes out through acme's key into
acme's PlusVibe workspace, `default` keeps the environment's key while nothing is connected for it, and a served
workspace with no integration refuses every call instead of borrowing the environment's key."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from unibox_testkit import (
    ACME,
    ACME_MAILBOX,
    WORKSPACE_HEADERS,
    client_account,
    enrol,
    integration_changed,
    settings_for,
)

from contracts.integrations import DEFAULT_WORKSPACE, PlusVibeIntegrationChanged
from plusvibe.credentials import KeyRing, fingerprint, new_kek
from plusvibe.testing import Sim
from servicekit.messaging.events import Decoded, new_envelope
from servicekit.testing import Database
from servicekit.web.auth import hash_key
from unibox.bootstrap import UniboxService
from unibox.handlers import on_plusvibe_integration_changed

pytestmark = [pytest.mark.postgres]
REPLY_PATH = "/api/v1/unibox/emails/reply"
MAILBOXES_PATH = "/api/v1/account/list"
BETA = "beta"  # served, never connected
BETA_KEY = "unibox-beta-workspace-key"
HEADERS = {**WORKSPACE_HEADERS, BETA: {"x-api-key": BETA_KEY, "x-workspace": BETA}}


def _keys_json() -> str:
    return json.dumps([{"name": f"{w}-client", "sha256": hash_key(h["x-api-key"]),
                        "scopes": ["unibox:read", "unibox:write"], "workspaces": [w]} for w, h in HEADERS.items()])


async def _connect(service: UniboxService, event: PlusVibeIntegrationChanged) -> None:
    """As the consumer stores it (this process's port of the workspace resolves it at once)."""
    async with service.uow() as uow:
        await on_plusvibe_integration_changed.handle(Decoded(envelope=new_envelope(event), event=event), uow,
                                                     changed=service.integration_changed)
        await uow.commit()


async def test_a_reply_in_acme_goes_through_acmes_connected_key(
    sim: Sim, pg_database: Database, running_app: Any
) -> None:
    kek = new_kek()
    acme_pv = client_account(sim.base_url, sim.state)
    acme_key = f"acme-integration-key-{uuid.uuid4().hex}"
    with sim.state.lock:
        sim.state.api_keys.add(acme_key)
    enrol(acme_pv, "ana@acme.test")
    sim.state.tick()
    inbound = sim.state.inject_reply("ana@acme.test", "Acme wants the report")
    settings = settings_for(pg_database, workspaces=f"{DEFAULT_WORKSPACE},{ACME},{BETA}", api_keys_json=_keys_json(),
                            opens_poll_interval_s=0)
    # The environment's key is valid: only a call made with acme's key proves acme's integration was used.
    async with running_app(settings, plusvibe_settings=sim.settings(kek=kek)) as (_, http, service):
        await _connect(service, integration_changed(1, keyring=KeyRing([kek]), api_key=acme_key,
                                                    plusvibe_workspace_id=acme_pv.workspace_id, workspace=ACME))
        reply = await http.post("/api/unibox/replies", headers={**HEADERS[ACME], "Idempotency-Key": "acme-1"},
                                json={"replyToId": inbound["id"], "from": ACME_MAILBOX,
                                      "to": "ana@acme.test", "subject": "Re: Your website",
                                      "bodyHtml": "<p>Attached</p>"})
        mailboxes = {w: await http.get("/api/unibox/mailboxes", headers=HEADERS[w]) for w in (DEFAULT_WORKSPACE, ACME)}
        seen = len(sim.state.request_log())
        beta = await http.get("/api/unibox/mailboxes", headers=HEADERS[BETA])
        beta_reply = await http.post("/api/unibox/replies", headers={**HEADERS[BETA], "Idempotency-Key": "beta-1"},
                                     json={"replyToId": inbound["id"], "from": ACME_MAILBOX,
                                           "to": "ana@acme.test", "subject": "Re: x", "bodyHtml": "<p>x</p>"})

    assert reply.status_code == 201, reply.text
    sends = sim.state.request_log(REPLY_PATH)
    assert [(r.status, r.key) for r in sends] == [(200, fingerprint(acme_key))]
    with sim.state.lock:
        sent = [e for e in sim.state.emails if e["id"] == reply.json()["plusvibeEmailId"]]
    assert [(e["workspace_id"], e["thread_id"]) for e in sent] == [(acme_pv.workspace_id, inbound["thread_id"])]
    assert [m["email"] for m in mailboxes[ACME].json()] == [ACME_MAILBOX]
    assert sorted(m["email"] for m in mailboxes[DEFAULT_WORKSPACE].json()) == ["alex@sender-one.test",
                                                                               "sam@sender-two.test"]
    listed = [r.key for r in sim.state.request_log(MAILBOXES_PATH)]
    assert listed == [fingerprint(sim.state.api_key), fingerprint(acme_key)]  # default: the environment's key
    assert (beta.status_code, beta.json()["reason"]) == (503, "plusvibe_not_configured")
    assert (beta_reply.status_code, beta_reply.json()["reason"]) == (503, "plusvibe_not_configured")
    assert len(sim.state.request_log()) == seen  # beta called nobody
