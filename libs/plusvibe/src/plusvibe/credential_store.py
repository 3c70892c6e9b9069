"""The PlusVibe credentials a service keeps, from leads' `PlusVibeIntegrationChanged` (docs/INTEGRATIONS.md).

Each service that calls PlusVibe without owning the integration (writeback, unibox) keeps this table in its own
schema (services never read each other's tables): one row per platform workspace, the newest announced version,
the API key still sealed as the event carried it. The table, its newest-version-wins upsert and the resolver the
service's `ConnectedPlusVibe` reads are defined once, here, so those services stay one design.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Boolean, Column, Integer, MetaData, Table, Text, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from plusvibe.connected import ConnectedPlusVibe, Resolver, default_not_connected
from plusvibe.credentials import Credentials, KeyRing, KeyRingUnavailable, SealError, keyring_or_none, open_stored
from plusvibe.settings import PlusVibeSettings
from plusvibe.workspace_ports import WorkspacePorts, settings_for
from servicekit.process.db import UTCDateTime

TABLE = "plusvibe_credentials"
UNREADABLE = ("The stored PlusVibe key does not open with this deployment's key-encryption key (PLUSVIBE_KEK); "
              "set the KEK or connect the key again under Integrations.")
_VALUES = ("connected", "plusvibe_workspace_id", "sealed_api_key", "key_fingerprint", "version", "changed_at")


def credentials_columns() -> list[Column[object]]:
    """The table's columns (fresh objects: for the service's table and for its migration's `op.create_table`).
    Frozen as the services' first migrations created them: a change is a new column here *and* a new migration in
    every service that keeps the table."""
    return [
        Column("workspace", Text, primary_key=True),
        Column("connected", Boolean, nullable=False),
        Column("plusvibe_workspace_id", Text, nullable=False, server_default=text("''")),
        Column("sealed_api_key", Text, nullable=False, server_default=text("''")),
        Column("key_fingerprint", Text, nullable=False, server_default=text("''")),
        Column("version", Integer, nullable=False),
        Column("changed_at", UTCDateTime, nullable=False),
    ]


def credentials_table(metadata: MetaData) -> Table:
    return Table(TABLE, metadata, *credentials_columns())


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """A workspace's integration as last announced; `sealed_api_key` is still sealed."""

    workspace: str
    connected: bool
    plusvibe_workspace_id: str
    sealed_api_key: str
    key_fingerprint: str
    version: int
    changed_at: datetime


class Announced(Protocol):
    """What a `PlusVibeIntegrationChanged` carries (the contract's event satisfies it)."""

    @property
    def workspace(self) -> str: ...
    @property
    def connected(self) -> bool: ...
    @property
    def plusvibe_workspace_id(self) -> str: ...
    @property
    def sealed_api_key(self) -> str: ...
    @property
    def key_fingerprint(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def changed_at(self) -> datetime: ...


class CredentialStore:
    """Reads and the newest-wins write of the table, in the caller's transaction. Never opens a key."""

    def __init__(self, session: AsyncSession, table: Table) -> None:
        self.session = session
        self.table = table

    async def keep_newest(self, announced: Announced) -> bool:
        """Stores the announced integration unless this version or a newer one is stored; True when stored."""
        t = self.table
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(t).values(workspace=announced.workspace,
                                        **{name: getattr(announced, name) for name in _VALUES})
        stmt = stmt.on_conflict_do_update(index_elements=["workspace"],
                                          set_={name: stmt.excluded[name] for name in _VALUES},
                                          where=t.c.version < stmt.excluded.version)
        return bool(getattr(await self.session.execute(stmt), "rowcount", 0))

    async def get(self, workspace: str) -> StoredCredentials | None:
        row = (await self.session.execute(select(self.table).where(self.table.c.workspace == workspace))
               ).mappings().first()
        return StoredCredentials(**row) if row is not None else None


def stored_credentials(read: Callable[[str], Awaitable[StoredCredentials | None]], keyring: KeyRing | None, *,
                       workspace: str, unreadable: Callable[[], BaseException]) -> Resolver:
    """The resolver of a service's `ConnectedPlusVibe`: the workspace's stored credentials, opened with the KEK;
    None while nothing is stored (the environment's key serves). A key this deployment cannot open raises
    `unreadable()` (an operator's fix: restore the KEK or connect the key again)."""

    async def resolve() -> Credentials | None:
        row = await read(workspace)
        if row is None:
            return None
        try:
            return open_stored(connected=row.connected, sealed_api_key=row.sealed_api_key,
                               plusvibe_workspace_id=row.plusvibe_workspace_id, keyring=keyring, context=workspace)
        except (KeyRingUnavailable, SealError):
            raise unreadable() from None

    return resolve


def connected_to_store(settings: PlusVibeSettings, read: Callable[[str], Awaitable[StoredCredentials | None]], *,
                       workspace: str, ttl_s: float, unreadable: Callable[[], BaseException],
                       not_connected: Callable[[], BaseException] = default_not_connected) -> ConnectedPlusVibe:
    """A service's PlusVibe port over the credentials it keeps (`read` the workspace's row in its own schema);
    the environment's key while nothing is stored. A malformed `PLUSVIBE_KEK` fails here, at start-up."""
    return ConnectedPlusVibe(settings, stored_credentials(read, keyring_or_none(settings.kek), workspace=workspace,
                                                          unreadable=unreadable),
                             ttl_s=ttl_s, not_configured=not_connected)


def connected_workspaces(settings: PlusVibeSettings, read: Callable[[str], Awaitable[StoredCredentials | None]], *,
                         ttl_s: float, unreadable: Callable[[], BaseException],
                         not_connected: Callable[[], BaseException] = default_not_connected) -> WorkspacePorts:
    """The service's PlusVibe ports, one per platform workspace, each over that workspace's stored credentials
    (`read(workspace)`); only `default` falls back to the environment's key while nothing is stored."""
    keyring = keyring_or_none(settings.kek)  # a malformed KEK fails here, at start-up
    return WorkspacePorts(lambda workspace: ConnectedPlusVibe(
        settings_for(settings, workspace),
        stored_credentials(read, keyring, workspace=workspace, unreadable=unreadable),
        ttl_s=ttl_s, not_configured=not_connected))
