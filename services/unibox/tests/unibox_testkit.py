"""Helpers shared by the unibox tests (a uniquely named module: `conftest` names collide across the repo)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.integrations import DEFAULT_WORKSPACE, PlusVibeIntegrationChanged, webhook_secret_context
from contracts.topics import PLUSVIBE_INTEGRATION_CHANGED
from plusvibe.credentials import KeyRing, fingerprint
from plusvibe.port import PlusVibePort
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import Sim
from servicekit.messaging.events import new_envelope
from servicekit.testing import Database, envelope_record, publish_raw
from servicekit.web.auth import hash_key
from unibox.settings import UniboxSettings

READ_KEY = "unibox-read-key"
WRITE_KEY = "unibox-write-key"
OTHER_KEY = "leads-only-key"
WEBHOOK_SECRET = "sim-webhook-secret"  # what the simulator's hooks send by default
READ = {"x-api-key": READ_KEY}
WRITE = {"x-api-key": WRITE_KEY}

API_KEYS_JSON = json.dumps([
    {"name": "reader", "sha256": hash_key(READ_KEY), "scopes": ["unibox:read"]},
    {"name": "writer", "sha256": hash_key(WRITE_KEY), "scopes": ["unibox:read", "unibox:write"]},
    {"name": "other", "sha256": hash_key(OTHER_KEY), "scopes": ["leads:read"]},
])


ACME = "acme"
DEFAULT_KEY = "unibox-default-workspace-key"
ACME_KEY = "unibox-acme-workspace-key"
# One key per workspace, each reaching only its own (docs/WORKSPACES.md); both may read and write.
WORKSPACE_HEADERS = {DEFAULT_WORKSPACE: {"x-api-key": DEFAULT_KEY, "x-workspace": DEFAULT_WORKSPACE},
                     ACME: {"x-api-key": ACME_KEY, "x-workspace": ACME}}
WORKSPACE_KEYS_JSON = json.dumps([
    {"name": "default-client", "sha256": hash_key(DEFAULT_KEY), "scopes": ["unibox:read", "unibox:write"],
     "workspaces": [DEFAULT_WORKSPACE]},
    {"name": "acme-client", "sha256": hash_key(ACME_KEY), "scopes": ["unibox:read", "unibox:write"],
     "workspaces": [ACME]},
])


class PortsByWorkspace:
    """A PlusVibe port per platform workspace, given by the test (`plusvibe.workspace_ports.PlusVibePorts`); a
    workspace without one has no PlusVibe at all (KeyError)."""

    def __init__(self, ports: dict[str, PlusVibePort]) -> None:
        self.ports = ports
        self.invalidated: list[str] = []

    def port(self, workspace: str) -> PlusVibePort:
        return self.ports[workspace]

    def connection(self, workspace: str) -> None:
        return None  # no connected integration behind a test's ports

    def invalidate(self, workspace: str) -> None:
        self.invalidated.append(workspace)

    async def aclose(self) -> None:
        for port in self.ports.values():
            close = getattr(port, "aclose", None)
            if close is not None:
                await close()


def settings_for(db: Database, **overrides: Any) -> UniboxSettings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "db_schema": db.schema if db.url.startswith("postgresql") else None,
        "api_keys_json": API_KEYS_JSON,
        "webhook_secret": WEBHOOK_SECRET,
        "log_json": False,
    }
    values.update(overrides)
    return UniboxSettings(**values)


def enrol(sim: Sim, email: str, campaign: str = "active", **fields: Any) -> None:
    sim.state.api_lead_add({"workspace_id": sim.workspace_id, "campaign_id": sim.campaigns[campaign],
                            "leads": [{"email": email, "first_name": "Ana", **fields,
                                       "custom_variables": {"email_subject_1": "Your website",
                                                            "email_body_1": "Body one",
                                                            "email_cta_1": "Call?"}}]})


ACME_MAILBOX = "jo@acme-sender.test"


def client_account(base_url: str, state: SimulatorState) -> Sim:
    """Another agency client's PlusVibe workspace in `state`: one mailbox (`ACME_MAILBOX`), one ACTIVE campaign with
    the template keys `enrol` fills."""
    with state.lock:
        wid = state.add_workspace("Acme client")
        state.add_mailbox(wid, ACME_MAILBOX, "Jo", "Brandt")
        active = state.add_campaign(wid, "Acme: website audit", [[("{{email_subject_1}}", "<p>{{email_body_1}}</p>")]])
    return Sim(base_url, state, wid, {"active": active})


def integration_changed(version: int, *, keyring: KeyRing | None = None, api_key: str = "",
                        plusvibe_workspace_id: str = "", workspace: str = DEFAULT_WORKSPACE, webhook_secret: str = "",
                        sealed_webhook_secret: str | None = None) -> PlusVibeIntegrationChanged:
    """What leads announces: connected with `api_key` (and `webhook_secret`, if any) sealed by `keyring` for
    `workspace`, or (no key) disconnected. `sealed_webhook_secret` overrides the sealed secret as given."""
    connected = bool(api_key)
    sealed_secret = (keyring.seal(webhook_secret, context=webhook_secret_context(workspace))
                     if keyring is not None and connected and webhook_secret else "")
    return PlusVibeIntegrationChanged(
        workspace=workspace, connected=connected, plusvibe_workspace_id=plusvibe_workspace_id if connected else "",
        sealed_api_key=keyring.seal(api_key, context=workspace) if keyring is not None and connected else "",
        key_fingerprint=fingerprint(api_key) if connected else "",
        sealed_webhook_secret=sealed_secret if sealed_webhook_secret is None else sealed_webhook_secret,
        version=version, changed_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=version))


async def publish_integrations(bootstrap: str, prefix: str, events: Sequence[PlusVibeIntegrationChanged]) -> None:
    """Publishes in order to the compacted integration topic, keyed by workspace as leads' relay keys them."""
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    for data in events:
        _, value, headers = envelope_record(new_envelope(data))
        records.append((data.workspace.encode(), value, headers))
    await publish_raw(bootstrap, f"{prefix}{PLUSVIBE_INTEGRATION_CHANGED.name}", records)
