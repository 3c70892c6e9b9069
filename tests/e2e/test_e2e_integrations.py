"""Integrations across the real processes: an operator connects a new PlusVibe key through the entry point, the
old key is revoked in PlusVibe, and leads (push), writeback (delivery) and unibox (threads) all work on — each
request the simulator sees from then on carries the new key. The key reaches writeback and unibox only sealed, on
the integration topic; each keeps its own copy."""

from __future__ import annotations

import asyncio
import hashlib
import time

import asyncpg
import pytest
from e2e_testkit import E2E
from test_e2e_seed_flow import campaign_id, lead, pushed, until

from contracts.topics import PLUSVIBE_INTEGRATION_CHANGED
from servicekit.testing import read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
NEW_KEY = "pv-e2e-connected-key-5678"
CREDENTIALS_TTL_S = 5.0  # how long a process may keep the credentials it read (LEADS_/WRITEBACK_/UNIBOX_ default)


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


async def stored_versions(e2e: E2E) -> dict[str, int]:
    """The integration's version as writeback and unibox stored it (their own tables)."""
    dsn = str(e2e.config.database_url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for service in ("writeback", "unibox"):
            out[service] = int(await conn.fetchval(
                f'SELECT coalesce(max(version), 0) FROM "{e2e.schemas[service]}".plusvibe_credentials') or 0)
        return out
    finally:
        await conn.close()


async def test_a_key_connected_under_integrations_reaches_every_service(e2e: E2E) -> None:
    workspace = (await e2e.api.get("/api/plusvibe/integration")).json()["workspaceId"]
    assert (await e2e.sim.post("/_sim/api-keys", json={"key": NEW_KEY})).status_code == 200
    r = await e2e.api.put("/api/integrations/plusvibe", json={"apiKey": NEW_KEY, "workspaceId": workspace})
    assert r.status_code == 200, r.text
    assert r.json()["keyMasked"] == "…" + NEW_KEY[-4:]

    # The launcher connected the demo key at start-up (version 1, its webhook registered): this is a key change.
    version = r.json()["version"]
    assert version >= 2, r.json()

    async def everywhere() -> bool:
        return await stored_versions(e2e) == {"writeback": version, "unibox": version}

    await until(everywhere, "writeback and unibox storing the connected integration", timeout_s=60)
    await asyncio.sleep(CREDENTIALS_TTL_S + 0.5)  # every process has read the new credentials by now
    revoked_at = time.time()
    await e2e.sim.post("/_sim/api-keys/revoke", json={"key": e2e.config.simulator_api_key})

    # The whole flow on the new key: campaigns, push (leads), manual writeback (writeback), threads (unibox).
    campaign = await campaign_id(e2e)
    lead_id = await pushed(e2e, campaign, "acme-plumbing.test", "hana@acme-plumbing.test", company="Acme Plumbing")
    assert (await e2e.api.post(f"/api/leads/{lead_id}/plusvibe/writeback")).status_code == 202

    async def delivered() -> bool:
        wb = ((await lead(e2e, lead_id))["plusvibeLeadData"] or {}).get("lastOutboundWriteback") or {}
        return bool(wb.get("delivered"))

    await until(delivered, "the manual writeback delivered with the connected key")
    threads = await e2e.api.get("/api/unibox/threads", params={"email": "hana@acme-plumbing.test", "refresh": "true"})
    assert threads.status_code == 200, threads.text

    requests = [q for q in (await e2e.sim.get("/_sim/requests")).json()["requests"] if q["at"] >= revoked_at]
    paths = {q["path"] for q in requests}
    assert {"/api/v1/lead/add", "/api/v1/lead/data/update"} <= paths  # leads and writeback called PlusVibe
    assert any(p.startswith("/api/v1/unibox") for p in paths)  # and so did unibox
    assert {q["key"] for q in requests} == {fingerprint(NEW_KEY)}
    assert [q for q in requests if q["status"] == 401] == []

    # On the topic the key is sealed: the record never holds it in clear.
    records = await read_topic(e2e.config.kafka_bootstrap,
                               f"{e2e.config.topic_prefix}{PLUSVIBE_INTEGRATION_CHANGED.name}", expected=1)
    assert records and all(NEW_KEY.encode() not in (r.value or b"") for r in records)
