"""How leads reaches PlusVibe: the credentials of the workspace's stored integration (opened with the deployment's
KEK), or a refusal with `plusvibe_not_configured` when nothing is connected (the system never guesses an
endpoint). `plusvibe.connected.ConnectedPlusVibe` calls the resolver and falls back to the environment's key, for
the `default` workspace only (`plusvibe.workspace_ports.settings_for`). Each platform workspace has its own port
(`connected_ports`, a `plusvibe.workspace_ports.WorkspacePorts`)."""

from __future__ import annotations

from collections.abc import Callable

from leads.adapters.uow import LeadsUnitOfWork
from leads.domain.refusals import Refusal
from plusvibe.connected import ConnectedPlusVibe, Resolver
from plusvibe.credentials import Credentials, KeyRing, KeyRingUnavailable, SealError, open_stored
from plusvibe.settings import PlusVibeSettings
from plusvibe.workspace_ports import WorkspacePorts, settings_for


def not_configured() -> Refusal:
    return Refusal("unavailable", "plusvibe_not_configured",
                   "PlusVibe is not configured: set an API key and workspace under Integrations.")


def stored_credentials(uows: Callable[[], LeadsUnitOfWork], workspace: str, keyring: KeyRing | None) -> Resolver:
    async def resolve() -> Credentials | None:
        async with uows() as uow:
            row = await uow.leads.integration(workspace)
            if row is None or (row.version == 0 and not row.connected):
                return None  # never connected here: the environment's key, if any
            connected, sealed, plusvibe_workspace_id = row.connected, row.sealed_api_key, row.plusvibe_workspace_id
        try:
            return open_stored(connected=connected, sealed_api_key=sealed,
                               plusvibe_workspace_id=plusvibe_workspace_id, keyring=keyring, context=workspace)
        except (KeyRingUnavailable, SealError):
            raise Refusal("unavailable", "integration_key_unreadable",
                          "The stored PlusVibe key does not open with this deployment's key-encryption key "
                          "(PLUSVIBE_KEK); restore the KEK or connect the key again under Integrations.") from None

    return resolve


def connected_ports(settings: PlusVibeSettings, uows: Callable[[], LeadsUnitOfWork], keyring: KeyRing | None, *,
                    ttl_s: float) -> WorkspacePorts:
    """One port per platform workspace over its stored integration (the environment's key for `default` only)."""
    return WorkspacePorts(lambda workspace: ConnectedPlusVibe(
        settings_for(settings, workspace), stored_credentials(uows, workspace, keyring), ttl_s=ttl_s,
        not_configured=not_configured))
