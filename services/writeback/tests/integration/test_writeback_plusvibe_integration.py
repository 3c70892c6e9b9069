"""The PlusVibe integration connected under Integrations (leads' PlusVibeIntegrationChanged, the key sealed under the
deployment's KEK) on the real broker and PostgreSQL: writeback keeps the newest version, sends with the connected
key to the simulator (never the environment's), refuses every call once the integration is disconnected, and
sends each lead's writeback with the key and PlusVibe workspace its own platform workspace connected."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from writeback_testkit import (
    ServiceRunner,
    audit_completed,
    enrol,
    integration_changed,
    lead_pushed,
    lead_upserted,
    publish,
    publish_integrations,
    sim_variables,
    update_requests,
)

from contracts.envelope import Envelope
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.topics import WRITEBACK_COMPLETED, WRITEBACK_FAILED
from plusvibe.connected import NotConnectedError
from plusvibe.credential_store import StoredCredentials
from plusvibe.credentials import KeyRing, fingerprint, new_kek
from plusvibe.testing import Sim
from servicekit.testing import read_topic, wait_until
from writeback.adapters.orm import plusvibe_credentials
from writeback.bootstrap import WritebackService

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
NOT_CONNECTED = r"^PlusVibe is not connected: .*Integrations"


async def _stored(svc: WritebackService, workspace: str = DEFAULT_WORKSPACE) -> StoredCredentials | None:
    async with svc.runtime.uow() as uow:
        return await uow.plusvibe_credentials.get(workspace)


async def _wait_for_version(svc: WritebackService, version: int, workspace: str = DEFAULT_WORKSPACE) -> None:
    async def stored() -> bool:
        row = await _stored(svc, workspace)
        return row is not None and row.version == version

    await wait_until(stored, timeout_s=30, what=f"version {version} of {workspace}'s integration")


def _integration_key(sim: Sim) -> str:
    """A second key the simulator accepts (the environment's key stays the fixture's own)."""
    key = f"integration-key-{uuid.uuid4().hex}"
    with sim.state.lock:
        sim.state.api_keys.add(key)
    return key


async def _link(svc: WritebackService, bootstrap: str, topics: str, lead: uuid.UUID, email: str, campaign: str,
                workspace: str = DEFAULT_WORKSPACE) -> None:
    await publish(bootstrap, topics, [lead_upserted(lead, email=email), lead_pushed(lead, campaign, email)],
                  workspace_id=workspace)

    async def linked() -> bool:
        async with svc.runtime.uow() as uow:
            row = await uow.repo.projection(lead, workspace)
        return row is not None and row["campaign_id"] == campaign

    await wait_until(linked, timeout_s=30, what="the LeadPushed link")


async def test_writeback_keeps_the_newest_integration_sealed_and_ignores_an_older_version(
    run_service: ServiceRunner, kafka_bootstrap: str, topics: str
) -> None:
    ring = KeyRing([new_kek()])
    newer_key, older_key = f"pv-newer-{uuid.uuid4().hex}", f"pv-older-{uuid.uuid4().hex}"
    newer = integration_changed(2, keyring=ring, api_key=newer_key, plusvibe_workspace_id="ws-newer")
    older = integration_changed(1, keyring=ring, api_key=older_key, plusvibe_workspace_id="ws-older")
    # One partition, so the other workspace's record (published last) is handled after the older version.
    sentinel = integration_changed(1, keyring=ring, api_key="sentinel-key", plusvibe_workspace_id="ws-s",
                                   workspace="sentinel")
    async with run_service() as svc:
        await publish_integrations(kafka_bootstrap, topics, [newer])
        await _wait_for_version(svc, 2)
        await publish_integrations(kafka_bootstrap, topics, [older, sentinel])
        await _wait_for_version(svc, 1, "sentinel")

        row = await _stored(svc)
        async with svc.runtime.engine.connect() as conn:
            sealed = (await conn.execute(select(plusvibe_credentials.c.workspace, plusvibe_credentials.c.sealed_api_key)
                                         .order_by(plusvibe_credentials.c.workspace))).all()

    assert row is not None
    assert row == StoredCredentials(workspace=DEFAULT_WORKSPACE, connected=True, plusvibe_workspace_id="ws-newer",
                                    sealed_api_key=newer.sealed_api_key, key_fingerprint=fingerprint(newer_key),
                                    version=2, changed_at=newer.changed_at)
    assert [w for w, _ in sealed] == [DEFAULT_WORKSPACE, "sentinel"]
    for _, token in sealed:  # only sealed tokens at rest: no key in clear, not even a part of one
        assert newer_key not in token and older_key not in token and "sentinel-key" not in token
    assert ring.open(row.sealed_api_key, context=DEFAULT_WORKSPACE).get_secret_value() == newer_key


async def test_writeback_sends_with_the_connected_integration_key_not_the_environment_key(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    kek = new_kek()
    key = _integration_key(sim)
    campaign, lead, email = sim.campaigns["active"], uuid.uuid4(), "owner@connected.test"
    enrol(sim.state, sim.workspace_id, campaign, [email])
    env: dict[str, Any] = {"api_key": "env-key-the-simulator-refuses", "kek": kek}
    async with run_service(plusvibe=env) as svc:
        await publish_integrations(kafka_bootstrap, topics, [
            integration_changed(1, keyring=KeyRing([kek]), api_key=key, plusvibe_workspace_id=sim.workspace_id)])
        await _wait_for_version(svc, 1)
        await _link(svc, kafka_bootstrap, topics, lead, email, campaign)
        await publish(kafka_bootstrap, topics, [audit_completed(lead)])
        (record,) = await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_COMPLETED.name}", expected=1, timeout_s=30)

    completed = Envelope.model_validate_json(record.value).data
    assert completed["lead_id"] == str(lead) and completed["delivered"] is True and completed["steps"] == 3
    updates = update_requests(sim.state)
    assert [(r.status, r.key) for r in updates] == [(200, fingerprint(key))]
    requests = sim.state.request_log()
    assert requests and {r.key for r in requests} == {fingerprint(key)}  # the environment's key was never sent


async def test_writeback_refuses_plusvibe_calls_after_a_disconnect_without_falling_back_to_the_environment(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    kek = new_kek()
    key = _integration_key(sim)
    campaign, lead, email = sim.campaigns["active"], uuid.uuid4(), "owner@disconnected.test"
    enrol(sim.state, sim.workspace_id, campaign, [email])
    # The environment's key is valid too: a fallback to it would succeed, so only a refusal passes.
    async with run_service(plusvibe={"kek": kek}) as svc:
        assert svc.connection is not None
        await publish_integrations(kafka_bootstrap, topics, [
            integration_changed(1, keyring=KeyRing([kek]), api_key=key, plusvibe_workspace_id=sim.workspace_id)])
        await _wait_for_version(svc, 1)
        assert await svc.plusvibe.campaign_step_count(campaign) == 3  # connected: the call works

        await publish_integrations(kafka_bootstrap, topics, [integration_changed(2)])
        await _wait_for_version(svc, 2)
        connection = svc.connection

        async def refused() -> bool:
            return await connection.credentials() is None

        await wait_until(refused, timeout_s=15, what="the disconnect to reach the PlusVibe port")
        seen = len(sim.state.request_log())
        with pytest.raises(NotConnectedError, match=NOT_CONNECTED):
            await svc.plusvibe.update_lead_variables(email, {"audit_grade": "A"}, campaign_id=campaign)

        # A writeback while disconnected waits (retried with backoff), it does not fail, and nothing is sent...
        await _link(svc, kafka_bootstrap, topics, lead, email, campaign)
        await publish(kafka_bootstrap, topics, [audit_completed(lead)])
        await asyncio.sleep(3.0)
        assert await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_FAILED.name}", expected=1, timeout_s=1) == []
        assert len(sim.state.request_log()) == seen  # nothing reached PlusVibe after the disconnect
        assert update_requests(sim.state) == []
        row = await _stored(svc)
        # ...until an operator connects a key again: then it is delivered with that key.
        await publish_integrations(kafka_bootstrap, topics, [
            integration_changed(3, keyring=KeyRing([kek]), api_key=key, plusvibe_workspace_id=sim.workspace_id)])
        (record,) = await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_COMPLETED.name}", expected=1,
                                     timeout_s=30)

    completed = Envelope.model_validate_json(record.value).data
    assert completed["lead_id"] == str(lead) and completed["delivered"] is True
    assert [(r.status, r.key) for r in update_requests(sim.state)] == [(200, fingerprint(key))]
    assert row is not None
    assert (row.connected, row.sealed_api_key, row.plusvibe_workspace_id, row.key_fingerprint) == (False, "", "", "")



async def test_each_workspaces_leads_are_written_back_with_the_key_and_plusvibe_workspace_it_connected(
    run_service: ServiceRunner, sim: Sim, kafka_bootstrap: str, topics: str
) -> None:
    """Two platform workspaces connect two keys and two PlusVibe workspaces (the demo agency's 3-step campaign, the
    second client's 2-step one). A lead exists in its own PlusVibe workspace only, so an update sent through the
    other workspace's port would be refused (404: a WritebackFailed), and its step count would be wrong."""
    kek = new_kek()
    ring = KeyRing([kek])
    default_key, acme_key = _integration_key(sim), _integration_key(sim)
    second = sim.state.seed("second-client")
    acme_pv, acme_campaign = second["workspace_id"], second["campaigns"]["active"]
    default_campaign = sim.campaigns["active"]
    leads = {DEFAULT_WORKSPACE: (uuid.uuid4(), "owner@default-client.test", default_campaign),
             "acme": (uuid.uuid4(), "owner@acme-client.test", acme_campaign)}
    enrol(sim.state, sim.workspace_id, default_campaign, [leads[DEFAULT_WORKSPACE][1]])
    enrol(sim.state, acme_pv, acme_campaign, [leads["acme"][1]])
    # The environment's key is refused by the simulator: every call must use a connected key.
    async with run_service(plusvibe={"api_key": "env-key-the-simulator-refuses", "kek": kek}) as svc:
        await publish_integrations(kafka_bootstrap, topics, [
            integration_changed(1, keyring=ring, api_key=default_key, plusvibe_workspace_id=sim.workspace_id),
            integration_changed(1, keyring=ring, api_key=acme_key, plusvibe_workspace_id=acme_pv, workspace="acme")])
        await _wait_for_version(svc, 1)
        await _wait_for_version(svc, 1, "acme")
        for workspace, (lead, email, campaign) in leads.items():
            await _link(svc, kafka_bootstrap, topics, lead, email, campaign, workspace)
            await publish(kafka_bootstrap, topics, [audit_completed(lead)], workspace_id=workspace)
        records = await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_COMPLETED.name}", expected=2, timeout_s=30)
        failed = await read_topic(kafka_bootstrap, f"{topics}{WRITEBACK_FAILED.name}", expected=1, timeout_s=1)

    assert failed == []
    completed = {uuid.UUID(e.data["lead_id"]): e for e in (Envelope.model_validate_json(r.value) for r in records)}
    default_lead, acme_lead = leads[DEFAULT_WORKSPACE][0], leads["acme"][0]
    assert {lead: (e.workspace_id, e.data["delivered"], e.data["campaign_id"], e.data["steps"])
            for lead, e in completed.items()} == {default_lead: (DEFAULT_WORKSPACE, True, default_campaign, 3),
                                                  acme_lead: ("acme", True, acme_campaign, 2)}
    for lead, email, campaign in leads.values():
        held = sim_variables(sim.state, campaign, email)
        assert {k: held.get(k) for k in completed[lead].data["variables"]} == completed[lead].data["variables"]
    assert sorted((r.status, r.key) for r in update_requests(sim.state)) == sorted(
        [(200, fingerprint(default_key)), (200, fingerprint(acme_key))])
    assert {r.key for r in sim.state.request_log()} == {fingerprint(default_key), fingerprint(acme_key)}
