"""Registering a workspace's hook against a fake PlusVibe whose `/hook/add` answers without an id (the answer's
shape is not documented): the new hook is found again in the list, nothing else is deleted; when it cannot be
found, the registration fails with nothing written to the integration's row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from leads.adapters.orm import PlusVibeIntegrationRow
from leads.domain.webhook_plan import SeenHook, Wanted
from leads.handlers.plusvibe_integration import Webhooks, _register_webhook
from plusvibe.credentials import KeyRing, new_kek
from plusvibe.errors import PlusVibeError
from plusvibe.models import Workspace

RING = KeyRing([new_kek()])
NOW = datetime(2026, 12, 6, tzinfo=UTC)
WEBHOOKS = Webhooks("http://127.0.0.1:8080")


class SilentAdds:
    """PlusVibe that stores added hooks but answers `/hook/add` without their id (or forgets them: `lose`)."""

    def __init__(self, *, lose: bool = False) -> None:
        self.stored: list[SeenHook] = [SeenHook(id="other-tool", name="zapier", url="http://127.0.0.1:7/z",
                                                events=frozenset({"EMAIL_SENT"}), secret=None)]
        self.lose = lose
        self.deleted: list[str] = []

    async def workspaces(self, api_key: SecretStr) -> list[Workspace]:
        return []

    async def hooks(self, api_key: SecretStr, plusvibe_workspace_id: str) -> list[SeenHook]:
        return list(self.stored)

    async def add_hook(self, api_key: SecretStr, plusvibe_workspace_id: str, wanted: Wanted) -> str:
        if not self.lose:
            self.stored.append(SeenHook(id=f"h{len(self.stored)}", name=wanted.name, url=wanted.url,
                                        events=wanted.events, secret=wanted.secret))
        return ""

    async def delete_hooks(self, api_key: SecretStr, plusvibe_workspace_id: str, ids: Sequence[str]) -> None:
        self.deleted += ids
        self.stored = [h for h in self.stored if h.id not in ids]


def row() -> PlusVibeIntegrationRow:
    return PlusVibeIntegrationRow(workspace="default", connected=True, plusvibe_workspace_id="ws1",
                                  sealed_webhook_secret="", webhook_id="", webhook_url="",
                                  webhook_plusvibe_workspace_id="", webhook_registered_at=None, webhook_error=None)


async def test_an_added_hook_without_an_id_is_found_in_the_list() -> None:
    pv, r = SilentAdds(), row()
    assert await _register_webhook(pv, r, RING, SecretStr("k" * 12), WEBHOOKS, NOW) is True
    assert r.webhook_id == "h1" and pv.deleted == [] and [h.id for h in pv.stored] == ["other-tool", "h1"]
    assert RING.open(r.sealed_webhook_secret, context="default/webhook-secret").get_secret_value() == \
        pv.stored[1].secret


async def test_an_add_that_cannot_be_found_fails_and_writes_nothing() -> None:
    pv, r = SilentAdds(lose=True), row()
    before = {c: getattr(r, c) for c in ("sealed_webhook_secret", "webhook_id", "webhook_url", "webhook_error")}
    with pytest.raises(PlusVibeError):
        await _register_webhook(pv, r, RING, SecretStr("k" * 12), WEBHOOKS, NOW)
    assert {c: getattr(r, c) for c in before} == before and pv.deleted == []


async def test_the_secret_never_shows_in_a_repr() -> None:
    hook = SeenHook(id="h", name="n", url="u", events=frozenset(), secret="very-secret-value")
    assert "very-secret-value" not in repr(hook)
    assert "very-secret-value" not in repr(replace(Wanted(name="n", url="u", secret="x"), secret="very-secret-value"))
