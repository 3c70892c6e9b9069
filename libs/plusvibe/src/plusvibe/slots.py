"""Where the send slots of a PlusVibe account come from: one sequence per account, shared by every process.

PlusVibe limits an *account* (API key), not a process: every replica of every service that calls it draws from
one budget. Each request first reserves the account's next send slot; slots are ``interval_s`` apart, so any
one-second window holds at most ``rate`` of them, however many processes ask. This is the "virtual scheduling"
form of GCRA: the store keeps one timestamp per account (the next free slot), and a reservation moves it on by
one interval. A process killed while holding a reservation wastes that one slot (≈0.2 s at 5 req/s), because a
process holds at most one reservation per account at a time (``limits.AccountGuard``).

Why not a library: aiolimiter (used before) and the token-bucket libraries keep their state in the process;
the ones with shared backends need Redis, which no deployment of ours has. Every deployment has PostgreSQL (one
row per account, one statement per request) or, embedded, a shared file on one machine.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

SCHEMA = "plusvibe_limits"
TABLE = f"{SCHEMA}.account_slots"

CREATE_SQL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {TABLE} (account text PRIMARY KEY, next_at timestamptz NOT NULL)",
)

# One statement: the row lock taken by the upsert serialises every process reserving for the account. The
# slot is the later of the stored next slot and now; the row moves on by one interval. Returned: seconds from
# now until the slot (0 when the account is idle).
RESERVE_SQL = f"""
WITH clock AS (SELECT clock_timestamp() AS now)
INSERT INTO {TABLE} AS s (account, next_at)
SELECT $1, clock.now + make_interval(secs => $2::float8) FROM clock
ON CONFLICT (account) DO UPDATE
   SET next_at = greatest(s.next_at, (SELECT now FROM clock)) + make_interval(secs => $2::float8)
RETURNING greatest(0::float8, extract(epoch FROM s.next_at - (SELECT now FROM clock))::float8 - $2::float8)
"""
# The same reservation, answered with the slot itself (wall-clock epoch seconds): when the answer comes back late
# (a busy database, a busy event loop) the waiting time computed on the server is already partly spent, and a
# process that waited it in full from the answer's arrival would send late, next to the following slot's request.
RESERVE_AT_SQL = RESERVE_SQL.split("RETURNING")[0] + """RETURNING extract(epoch FROM greatest(s.next_at - make_interval(secs => $2::float8),
                                  (SELECT now FROM clock)))::float8
"""


class SlotStore(Protocol):
    """Reserves the next send slot of an account: `reserve` returns the seconds to wait until it, `reserve_at` the
    slot itself as a wall-clock instant (`time.time()` seconds), which stays exact however late the answer comes."""

    async def reserve(self, account: str, interval_s: float) -> float: ...

    async def reserve_at(self, account: str, interval_s: float) -> float: ...

    async def close(self) -> None: ...


class ProcessSlots:
    """Slots shared by this process only: for a single process (tests, scripts), never for a deployment."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    async def reserve(self, account: str, interval_s: float) -> float:
        now = time.monotonic()
        slot = max(self._next.get(account, now), now)
        self._next[account] = slot + interval_s
        return slot - now

    async def reserve_at(self, account: str, interval_s: float) -> float:
        return time.time() + await self.reserve(account, interval_s)

    async def close(self) -> None:
        return None


class FileSlots:
    """Slots shared by the processes of one machine (the embedded, SQLite mode of `make run`): one JSON file
    holding each account's next slot in wall-clock time, read and written under an exclusive ``flock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()

    async def reserve(self, account: str, interval_s: float) -> float:
        return max(0.0, await self.reserve_at(account, interval_s) - time.time())

    async def reserve_at(self, account: str, interval_s: float) -> float:
        return await asyncio.to_thread(self._reserve, account, interval_s)

    def _reserve(self, account: str, interval_s: float) -> float:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                raw = handle.read()
                state: dict[str, float] = json.loads(raw) if raw.strip() else {}
                now = time.time()
                slot = max(float(state.get(account, now)), now)
                state[account] = slot + interval_s
                # Forget accounts idle for an hour so the file stays small.
                state = {k: v for k, v in state.items() if v > now - 3600}
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(state))
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return slot

    async def close(self) -> None:
        return None


class PostgresSlots:
    """Slots shared by every process and replica that reaches one PostgreSQL database (every deployment).

    One connection per process, opened on first use and reopened after a failure; a reservation is one
    round trip. The table is created by the migrations of the services that call PlusVibe
    (``ensure_table``); if it is missing (a service started without them) it is created here when the role
    may, else the error says which command creates it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = asyncpg_dsn(dsn)
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def reserve(self, account: str, interval_s: float) -> float:
        return await self._fetch(RESERVE_SQL, account, interval_s)

    async def reserve_at(self, account: str, interval_s: float) -> float:
        return await self._fetch(RESERVE_AT_SQL, account, interval_s)

    async def _fetch(self, sql: str, account: str, interval_s: float) -> float:
        import asyncpg

        async with self._lock:
            try:
                conn = await self._connection()
                try:
                    return float(await conn.fetchval(sql, account, interval_s))
                except asyncpg.UndefinedTableError:
                    await _create(conn)
                    return float(await conn.fetchval(sql, account, interval_s))
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
                await self._drop()
                raise

    async def _connection(self) -> Any:
        import asyncpg

        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=5, command_timeout=5,
                                               server_settings={"application_name": "plusvibe-slots"})
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()


async def _create(conn: Any) -> None:
    import asyncpg

    try:
        for statement in CREATE_SQL:
            await conn.execute(statement)
    except asyncpg.InsufficientPrivilegeError as exc:
        raise RuntimeError(
            f"{TABLE} is missing and this database role may not create it: run the service's migrations "
            "(python -m <service>.entrypoints.migrate) with the migration role first"
        ) from exc


async def ensure_table(database_url: str, *, grant_to: str | None = None) -> None:
    """Creates the shared slot table (idempotent) and grants its use to the runtime role; called by the
    migrations step of every service that calls PlusVibe."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('plusvibe_limits'))")
        try:
            for statement in CREATE_SQL:
                await conn.execute(statement)
            if grant_to:
                role = _quote_ident(grant_to)
                await conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}")
                await conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO {role}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('plusvibe_limits'))")
    finally:
        await conn.close()


async def migration_step(database_url: str, role: str | None) -> None:
    """The slot table as a step of a service's migrations (`servicekit.process.migrate_cli.migrate_main`'s
    `extra_steps`): every service that calls PlusVibe runs it; PostgreSQL only (SQLite tests have no shared slots)."""
    if database_url.startswith("postgres"):
        await ensure_table(database_url, grant_to=role)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def asyncpg_dsn(url: str) -> str:
    """SQLAlchemy's ``postgresql+asyncpg://`` URL as the plain DSN asyncpg takes."""
    for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).split("+", 1)[0].split(":", 1)[0] in ("postgresql", "postgres")


def default_file_path() -> Path:
    return Path(os.environ.get("OUTREACH_DATA_DIR", ".local/data")) / "plusvibe-slots.json"
