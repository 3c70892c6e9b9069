"""Tolerance of the real API's quirks (mock transport, no sockets) and the API-key canary."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from plusvibe.client import PlusVibeClient
from plusvibe.errors import PermanentError, PlusVibeError, TransientError
from plusvibe.settings import PlusVibeSettings
from plusvibe.simulator.faults import FaultRule
from plusvibe.testing import Sim

CANARY = "canary-KEY-7f3a9c0e5b"


def _client(handler: Callable[[httpx.Request], httpx.Response], **overrides: Any) -> PlusVibeClient:
    settings = PlusVibeSettings(
        base_url="http://plusvibe.invalid/api/v1",
        api_key=SecretStr(CANARY),
        workspace_id="ws1",
        requests_per_second=1000,
        attempts=2,
        backoff_initial_s=0.0,
        backoff_jitter_s=0.0,
        **overrides,
    )
    return PlusVibeClient(settings, httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_reads_id_or_underscore_id_bare_or_wrapped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/account/list"):
            return httpx.Response(
                200, json={"accounts": [{"id": "a1", "email": "x@t.test"}, {"_id": "a2", "email": "y@t.test"}]}
            )
        if request.url.path.endswith("/campaign/list-all"):
            return httpx.Response(200, json=[{"_id": "c1", "name": "legacy", "sequences": {}}])
        if request.url.path.endswith("/lead/get"):
            return httpx.Response(
                200, json={"data": [{"id": "l1", "lead_data": {"_id": "l1", "custom_k": {"status": "ok", "val": "v"}}}]}
            )
        return httpx.Response(200, json={"0": {"_id": "h1", "url": "http://127.0.0.1/h"}, "1": {"_id": "h2"}})

    async with _client(handler) as client:
        assert [m.id for m in await client.list_mailboxes()] == ["a1", "a2"]
        (campaign,) = await client.list_campaigns()
        assert (campaign.id, campaign.camp_name, campaign.sequences) == ("c1", "legacy", [])
        (row,) = await client.get_lead("x@t.test")
        assert row.variable("k") == "v"  # custom_ prefix and enrichment object both handled
        assert [h.id for h in await client.list_webhooks()] == ["h1", "h2"]


async def test_status_error_with_http_200_is_a_permanent_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "error", "message": "campaign_id invalid"})

    async with _client(handler) as client:
        with pytest.raises(PermanentError, match="campaign_id invalid"):
            await client.add_leads("c1", [{"email": "a@t.test"}])


async def test_html_gateway_page_on_success_status_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>cloudflare</html>")

    async with _client(handler) as client:
        with pytest.raises(TransientError):
            await client.authenticate()


async def test_sends_explicit_user_agent_and_key_header_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "workspaces": []})

    async with _client(handler, user_agent="outreach-test/1") as client:
        await client.authenticate()
    assert seen[0].headers["user-agent"] == "outreach-test/1"
    assert seen[0].headers["x-api-key"] == CANARY
    assert CANARY not in str(seen[0].url)


async def test_api_key_never_appears_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture, make_client: Callable[..., PlusVibeClient], sim: Sim
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.state.api_keys.add(CANARY)
    texts: list[str] = []
    async with make_client(api_key=CANARY, attempts=2) as client:
        texts += [repr(client), repr(client.settings), str(client.settings.model_dump())]
        for status in (500, 400, 401, 429):
            sim.state.faults.add(FaultRule(path="/api/v1/authenticate", status=status, times=2, retry_after="99"))
            with pytest.raises(PlusVibeError) as caught:
                await client.authenticate()
            sim.state.faults.clear()
            texts += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
    async with make_client(api_key="wrong-" + CANARY) as bad:
        with pytest.raises(PlusVibeError) as caught:
            await bad.authenticate()
        texts += [str(caught.value), repr(caught.value)]

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": f"bad key {request.headers['x-api-key']}"})

    async with _client(echo) as echoing:
        with pytest.raises(PermanentError) as caught:
            await echoing.authenticate()
        texts += [str(caught.value)]
    texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    texts += [repr(r) for r in sim.state.request_log()]
    assert caplog.records, "expected debug logs to check"
    assert not [t for t in texts if CANARY in t]


async def test_client_satisfies_the_port_protocol() -> None:
    from plusvibe.port import PlusVibePort

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "success", "workspaces": [{"_id": "w", "name": "n"}]})

    async with _client(handler) as client:
        port: PlusVibePort = client
        assert [w.id for w in await port.list_workspaces()] == ["w"]
