"""Every route but health needs an API key with the right scope; the webhook needs the shared secret."""

from __future__ import annotations

from typing import Any

import pytest
from unibox_testkit import OTHER_KEY, READ, WEBHOOK_SECRET, WRITE, settings_for

from contracts.integrations import DEFAULT_WORKSPACE
from plusvibe.client import PlusVibeClient
from plusvibe.settings import PlusVibeSettings
from servicekit.testing import Database

ROUTES = [
    ("GET", "/api/unibox/threads?email=ana@example.test", "unibox:read"),
    ("GET", "/api/unibox/mailboxes", "unibox:read"),
    ("POST", "/api/unibox/replies", "unibox:write"),
    ("POST", "/api/unibox/threads/abc123/read", "unibox:write"),
]
REPLY = {"replyToId": "e1", "from": "alex@sender.test", "to": "ana@example.test", "subject": "Re: x",
         "bodyHtml": "<p>x</p>", "idempotencyKey": "k1"}


def _unreachable_plusvibe() -> PlusVibeClient:
    # Loopback port 9 (discard): if auth ever let a request through, the call would fail, never leave the host.
    return PlusVibeClient(PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", api_key="x", workspace_id="w",
                                           total_deadline_s=1))


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
async def test_routes_refuse_missing_and_wrong_keys_and_missing_scopes(
    method: str, path: str, scope: str, sqlite_database: Database, running_app: Any
) -> None:
    async with running_app(settings_for(sqlite_database), plusvibe=_unreachable_plusvibe()) as (_, http, _s):
        body = REPLY if path.endswith("replies") else None
        none = await http.request(method, path, json=body)
        wrong = await http.request(method, path, json=body, headers={"x-api-key": "nope"})
        other = await http.request(method, path, json=body, headers={"x-api-key": OTHER_KEY})
        reader = await http.request(method, path, json=body, headers=READ)
    assert (none.status_code, none.json()["reason"]) == (401, "api_key_missing")
    assert (wrong.status_code, wrong.json()["reason"]) == (401, "api_key_invalid")
    assert (other.status_code, other.json()["reason"]) == (403, "scope_missing")
    if scope == "unibox:write":
        assert reader.status_code == 403


async def test_webhook_ignores_api_keys_and_refuses_when_no_secret_is_configured(
    sqlite_database: Database, running_app: Any
) -> None:
    payload = {"webhook_event": "EMAIL_SENT", "email": "ana@example.test"}
    async with running_app(settings_for(sqlite_database, webhook_secret=None),
                           plusvibe=_unreachable_plusvibe()) as (_, http, svc):
        with_key = await http.post("/api/plusvibe/webhooks", json=payload, headers=WRITE)
        with_guess = await http.post("/api/plusvibe/webhooks", json=payload,
                                     headers={"x-plusvibe-secret": WEBHOOK_SECRET})
        with_empty = await http.post("/api/plusvibe/webhooks", json=payload, headers={"x-plusvibe-secret": ""})
        async with svc.uow() as uow:
            stored = await uow.webhooks.count()
    assert [r.status_code for r in (with_key, with_guess, with_empty)] == [401, 401, 401]
    assert stored == 0


async def test_reply_without_an_idempotency_key_is_refused_before_anything_is_recorded(
    sqlite_database: Database, running_app: Any
) -> None:
    body = {k: v for k, v in REPLY.items() if k != "idempotencyKey"}
    async with running_app(settings_for(sqlite_database), plusvibe=_unreachable_plusvibe()) as (_, http, svc):
        res = await http.post("/api/unibox/replies", json=body, headers=WRITE)
        async with svc.uow() as uow:
            assert await uow.replies.get(DEFAULT_WORKSPACE, "k1") is None
    assert (res.status_code, res.json()["reason"]) == (400, "idempotency_key_missing")


async def test_reply_with_header_injection_in_an_address_is_refused(sqlite_database: Database,
                                                                    running_app: Any) -> None:
    body = {**REPLY, "to": "ana@example.test\r\nBcc: all@example.test"}
    async with running_app(settings_for(sqlite_database), plusvibe=_unreachable_plusvibe()) as (_, http, _s):
        res = await http.post("/api/unibox/replies", json=body, headers=WRITE)
    assert (res.status_code, res.json()["reason"]) == (422, "invalid_email")
