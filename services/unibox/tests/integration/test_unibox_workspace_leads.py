"""The same address as a lead in two platform workspaces, on the real broker and PostgreSQL, the app running its
consumers: the LeadUpserted projection keeps each lead in its event's workspace (an event without a workspace_id
belongs to `default`), a webhook delivered to `/webhooks/{workspace}` resolves only that workspace's lead (never the
other's, even when that is the only one with the address), the same payload delivered for both workspaces is two
events, and each EmailActivityReceived carries the workspace it arrived for and that workspace's lead."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from unibox_testkit import ACME, WEBHOOK_SECRET, integration_changed, publish_integrations, settings_for

from contracts.common import Contact, LeadSnapshot
from contracts.envelope import HEADER_CE_WORKSPACE
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.leads import LeadUpserted
from contracts.status import LeadStatus
from contracts.topics import EMAIL_ACTIVITY_RECEIVED, LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED
from outreach_ops.topic_admin import ensure_topics
from plusvibe.credentials import KeyRing, new_kek
from plusvibe.settings import PlusVibeSettings
from plusvibe.simulator.webhooks import SECRET_HEADER
from servicekit.messaging.events import new_envelope
from servicekit.testing import Database, publish_envelopes, read_topic, wait_until
from unibox.bootstrap import UniboxService

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
HOOK = "/api/plusvibe/webhooks"
SECRETS = {DEFAULT_WORKSPACE: "default-webhook-secret", ACME: "acme-webhook-secret"}


def _upserted(lead_id: uuid.UUID, email: str) -> LeadUpserted:
    now = datetime.now(UTC)
    return LeadUpserted(lead_id=lead_id, lead=LeadSnapshot(
        lead_id=lead_id, version=1, contact=Contact(email=email), status=LeadStatus.EMAIL_SENT, campaign_id="c1",
        created_at=now, updated_at=now))


async def _projected(service: UniboxService, workspace: str, email: str) -> uuid.UUID | None:
    async with service.uow() as uow:
        lead = await uow.leads.find(workspace, email)
    return lead.lead_id if lead is not None else None


def _sent(email: str, n: int) -> dict[str, Any]:
    return {"webhook_event": "EMAIL_SENT", "email": email, "campaign_id": "c1", "n": n}


async def test_a_webhook_resolves_the_lead_of_the_workspace_it_was_delivered_for(
    pg_database: Database, kafka_bootstrap: str, topic_prefix: str, running_app: Any
) -> None:
    await ensure_topics(kafka_bootstrap, [LEAD_UPSERTED, PLUSVIBE_INTEGRATION_CHANGED, EMAIL_ACTIVITY_RECEIVED],
                        prefix=topic_prefix)
    kek = new_kek()
    ring = KeyRing([kek])
    ana = {DEFAULT_WORKSPACE: uuid.uuid4(), ACME: uuid.uuid4()}
    bob = uuid.uuid4()  # a lead of acme only
    await publish_envelopes(kafka_bootstrap, f"{topic_prefix}{LEAD_UPSERTED.name}", [
        new_envelope(_upserted(ana[DEFAULT_WORKSPACE], "Ana@Example.test"), lead_id=ana[DEFAULT_WORKSPACE]),
        new_envelope(_upserted(ana[ACME], "ana@example.test"), lead_id=ana[ACME], workspace_id=ACME),
        new_envelope(_upserted(bob, "bob@example.test"), lead_id=bob, workspace_id=ACME)])
    await publish_integrations(kafka_bootstrap, topic_prefix, [
        integration_changed(1, keyring=ring, api_key=f"key-{w}", plusvibe_workspace_id=f"pv-{w}", workspace=w,
                            webhook_secret=SECRETS[w]) for w in (DEFAULT_WORKSPACE, ACME)])
    # No grace: a webhook whose workspace has no lead for its address is emitted unmatched at once.
    settings = settings_for(pg_database, kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix,
                            workspaces=f"{DEFAULT_WORKSPACE},{ACME}", webhook_match_grace_s=0,
                            opens_poll_interval_s=0)
    pv = PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", kek=kek)  # webhooks call no PlusVibe
    async with running_app(settings, plusvibe_settings=pv, embedded_workers=True) as (_, http, service):
        async def ready() -> bool:
            leads = [await _projected(service, w, e) for w, e in (
                (DEFAULT_WORKSPACE, "ana@example.test"), (ACME, "ana@example.test"), (ACME, "bob@example.test"))]
            secrets = [(await service.webhook_secrets.secret(w)).admits(SECRETS[w]) for w in SECRETS]
            return all(leads) and all(secrets)

        await wait_until(ready, timeout_s=30, what="both workspaces' leads and webhook secrets")
        assert await _projected(service, DEFAULT_WORKSPACE, "bob@example.test") is None

        def post(workspace: str, body: dict[str, Any]) -> Any:
            return http.post(f"{HOOK}/{workspace}", json=body, headers={SECRET_HEADER: SECRETS[workspace]})

        answers = {
            "acme-ana": await post(ACME, _sent("ana@example.test", 1)),
            # The very same payload for default: another workspace's event, not a redelivery.
            "default-ana": await post(DEFAULT_WORKSPACE, _sent("ana@example.test", 1)),
            "legacy-ana": await http.post(HOOK, json=_sent("ANA@example.test", 2),
                                          headers={SECRET_HEADER: WEBHOOK_SECRET}),
            "default-bob": await post(DEFAULT_WORKSPACE, _sent("bob@example.test", 3)),
            "acme-bob": await post(ACME, _sent("bob@example.test", 3)),
            # Acme's secret on default's route: refused, whatever lead it names.
            "crossed": await http.post(f"{HOOK}/{DEFAULT_WORKSPACE}", json=_sent("ana@example.test", 4),
                                       headers={SECRET_HEADER: SECRETS[ACME]}),
        }
        records = await read_topic(kafka_bootstrap, f"{topic_prefix}{EMAIL_ACTIVITY_RECEIVED.name}", expected=5,
                                   timeout_s=30)

    assert {k: a.status_code for k, a in answers.items()} == {
        "acme-ana": 200, "default-ana": 200, "legacy-ana": 200, "default-bob": 200, "acme-bob": 200, "crossed": 401}
    assert not any(a.json().get("duplicate") for a in answers.values() if a.status_code == 200)
    events = [(json.loads(r.value), dict(r.headers)) for r in records]
    by_payload = {(e["workspace_id"], e["data"]["raw_payload"]["n"]): e for e, _ in events}
    assert {k: (e["data"]["email"], e["lead_id"]) for k, e in by_payload.items()} == {
        (ACME, 1): ("ana@example.test", str(ana[ACME])),
        (DEFAULT_WORKSPACE, 1): ("ana@example.test", str(ana[DEFAULT_WORKSPACE])),
        (DEFAULT_WORKSPACE, 2): ("ana@example.test", str(ana[DEFAULT_WORKSPACE])),
        (DEFAULT_WORKSPACE, 3): ("bob@example.test", None),  # acme's lead is not default's
        (ACME, 3): ("bob@example.test", str(bob)),
    }
    for event, headers in events:  # the record's CloudEvents header names the workspace too
        assert headers[HEADER_CE_WORKSPACE].decode() == event["workspace_id"]
