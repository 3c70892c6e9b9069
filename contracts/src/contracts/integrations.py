"""Events about a workspace's integrations (published by leads, which owns the Integrations API)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from contracts.common import NonEmptyStr
from contracts.envelope import EventData


class PlusVibeIntegrationChanged(EventData):
    """A workspace's PlusVibe integration was connected, changed or disconnected. Consumed by every service that
    calls PlusVibe (writeback, unibox), which keep the newest `version` per workspace.

    The API key travels only **sealed** (`sealed_api_key`: authenticated encryption under the deployment's
    key-encryption key, bound to `workspace`), never in clear: a copy of this compacted topic reveals nothing
    without the KEK. Keyed by `workspace`. On a disconnect the key, the PlusVibe workspace and the webhook secret are
    empty."""

    PRODUCER: ClassVar[str] = "leads"
    EVENT_TYPE: ClassVar[str] = "PlusVibeIntegrationChanged"
    workspace: NonEmptyStr
    connected: bool
    plusvibe_workspace_id: str = ""
    sealed_api_key: str = ""
    key_fingerprint: str = ""
    # The secret PlusVibe sends with every webhook of this workspace (the hook leads registered), sealed like the
    # key under the KEK, bound to `webhook_secret_context(workspace)`. Empty while no hook is registered.
    sealed_webhook_secret: str = ""
    version: int = Field(ge=1)
    changed_at: AwareDatetime


# The platform workspace every integration and event belongs to until workspaces are first-class; the seal context
# of its sealed API key.
DEFAULT_WORKSPACE = "default"
# A platform workspace's name: letters, digits, `_` and `-`, 1–64 characters (it appears in URL paths and seal
# contexts). Checked with `fullmatch` (`$` would let a trailing newline through).
WORKSPACE_NAME_PATTERN = r"[A-Za-z0-9_\-]{1,64}"


def event_workspace(workspace_id: str | None) -> str:
    """The platform workspace an event belongs to: its envelope's `workspace_id`; events published before
    workspaces carried none and belong to `default`."""
    return workspace_id or DEFAULT_WORKSPACE


def webhook_secret_context(workspace: str) -> str:
    """The seal context of a workspace's webhook secret: a sealed secret never opens as a sealed API key (whose
    context is the workspace itself), nor as another workspace's secret."""
    return f"{workspace}/webhook-secret"
