"""Session pooling is required, for real: Debian's PgBouncer (deploy/local/pgbouncer.sh installs it if missing)
runs on a free loopback port in front of the local PostgreSQL, with its config, log and pid file in its own
directory (docs/KUBERNETES-RUNBOOK.md "Connection budget").

- pool_mode = transaction or statement: the kit's engine refuses its first connection with
  `SessionPoolingRequired` naming PgBouncer's transaction mode and the fix; an API's start-up fails with it
  before it serves; a relay process (`python -m unibox.entrypoints.relay`) exits with it;
- pool_mode = session (no ignore_startup_parameters): the leads service migrates through it, its connections'
  search_path is its schema, and its relay, started through it, is woken by a NOTIFY sent through it (the poll
  tick is 30 s; the record is on the topic within seconds);
- `size_pool` gives an unused engine the pool of its process type and refuses an engine already in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from contracts.leads import AuditRequested
from contracts.topics import AUDIT_REQUESTED
from leads.bootstrap import bootstrap as leads_bootstrap
from leads.entrypoints.http import create_app as leads_app
from leads.settings import LeadsSettings
from outreach_ops.topic_admin import ensure_topics
from plusvibe.port import PlusVibePort
from servicekit.messaging.events import new_envelope
from servicekit.messaging.uow import UnitOfWork, outbox_channel
from servicekit.process.db import SessionPoolingRequired, check_session_pooling, create_engine
from servicekit.process.pooling import checked_app, size_pool
from servicekit.process.runtime import ServiceRuntime, run_relay_until_stopped
from servicekit.process.settings import ServiceSettings
from servicekit.process.tables import outbox
from servicekit.testing import Database, read_topic, wait_until

pytestmark = [pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "local" / "pgbouncer.sh"
RELAY_POLL_S = 30.0  # far above the wake-up the test waits for: only the NOTIFY can publish in time


@pytest.fixture(scope="module")
def pgbouncer_installed() -> None:
    result = subprocess.run(["bash", str(SCRIPT), "install"], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"deploy/local/pgbouncer.sh install failed:\n{result.stdout}\n{result.stderr}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def pgbouncer(postgres_url: str, mode: str) -> Iterator[str]:
    """A private PgBouncer in `mode` in front of `postgres_url`'s server; yields the URL that goes through it."""
    upstream = make_url(postgres_url)
    port = _free_port()
    # Under /tmp itself, not pytest's per-user 0700 directory: as root the script hands it to the user PgBouncer
    # drops to.
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    env = {**os.environ, "PGHOST": upstream.host or "127.0.0.1", "PGPORT": str(upstream.port or 5432),
           "PGBOUNCER_USERS": f"{upstream.username}:{upstream.password}"}
    proc = subprocess.Popen(["bash", str(SCRIPT), "run", str(workdir), str(port), mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"pgbouncer ({mode}) did not listen on 127.0.0.1:{port}:\n{out}")
            time.sleep(0.1)
        yield upstream.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        proc.send_signal(signal.SIGTERM)  # PgBouncer: immediate shutdown
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _leads(url: str, schema: str, kafka_bootstrap: str, topic_prefix: str) -> Any:
    settings = LeadsSettings(database_url=url, db_schema=schema, kafka_bootstrap_servers=kafka_bootstrap,
                             kafka_topic_prefix=topic_prefix, migrate_on_start=True, relay_poll_interval_s=RELAY_POLL_S)
    return leads_bootstrap(settings, plusvibe=cast(PlusVibePort, object()))  # PlusVibe unconfigured: never called


@pytest.mark.parametrize("mode", ["transaction", "statement"])
async def test_a_transaction_pooler_is_refused_with_the_fix(pgbouncer_installed: None, pg_database: Database,
                                                            kafka_bootstrap: str, topic_prefix: str, mode: str) -> None:
    with pgbouncer(pg_database.url, mode) as url:
        engine = create_engine(url, schema=pg_database.schema, session_check_timeout_s=1.0)
        try:
            started = time.monotonic()
            with pytest.raises(SessionPoolingRequired) as refused:
                await check_session_pooling(engine)
            assert time.monotonic() - started < 10
            message = str(refused.value)
            for words in ("PgBouncer pool_mode = transaction", "pool_mode = session", "connect to PostgreSQL directly",
                          f"127.0.0.1:{make_url(url).port}"):
                assert words in message
            with pytest.raises(SessionPoolingRequired):  # every later connection is checked again, never let through
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()

        # The API's start-up (what `app_factory` builds) fails before migrating or serving.
        service = _leads(url, pg_database.schema, kafka_bootstrap, topic_prefix)
        size_pool(service.runtime, "api")
        app = checked_app(leads_app(service=service), service.runtime)
        with pytest.raises(SessionPoolingRequired):
            async with app.router.lifespan_context(app):
                pytest.fail("the API started behind a transaction pooler")
        await service.runtime.dispose()

        if mode == "transaction":
            # A relay process, as its Deployment starts it.
            env = {**os.environ, "UNIBOX_DATABASE_URL": url, "UNIBOX_DB_SCHEMA": pg_database.schema,
                   "MIGRATE_ON_START": "false", "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                   "KAFKA_TOPIC_PREFIX": topic_prefix}
            env.pop("UNIBOX_WORKER_HEALTH_PORT", None)
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "unibox.entrypoints.relay", env=env,
                                                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                out, err = await asyncio.wait_for(proc.communicate(), 120)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            output = (out + err).decode()
            assert proc.returncode != 0, output
            assert "SessionPoolingRequired" in output and "pool_mode = session" in output, output


async def _listening(direct_url: str, channel: str, timeout_s: float = 20.0) -> None:
    """Waits until a backend's last statement is the relay's LISTEN on `channel` (seen on the server itself)."""
    conn = await asyncpg.connect(make_url(direct_url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE query = $1", f'LISTEN "{channel}"'):
                return
            await asyncio.sleep(0.1)
        pytest.fail(f"no backend LISTENs on {channel}")
    finally:
        await conn.close()


async def test_session_pooling_keeps_the_schema_and_wakes_the_relay(pgbouncer_installed: None, pg_database: Database,
                                                                    kafka_bootstrap: str, topic_prefix: str) -> None:
    await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED], prefix=topic_prefix)
    schema = pg_database.schema
    with pgbouncer(pg_database.url, "session") as url:
        relay_service = _leads(url, schema, kafka_bootstrap, topic_prefix)
        writer = _leads(url, schema, kafka_bootstrap, topic_prefix)  # its own outbox signal: no in-process wake-up
        runtime = relay_service.runtime
        assert size_pool(runtime, "relay") == 2
        stop = asyncio.Event()
        relay: asyncio.Task[None] | None = None
        try:
            await check_session_pooling(runtime.engine)  # passes: the session is kept
            await runtime.migrate()  # alembic, through PgBouncer
            async with runtime.engine.connect() as conn:
                assert (await conn.execute(text("SHOW search_path"))).scalar_one() == schema
                assert (await conn.execute(text("SELECT current_schema()"))).scalar_one() == schema
                # The unqualified name resolves to the service's table (the migration put it in its schema).
                assert (await conn.execute(text(
                    "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = to_regclass('outbox')"
                ))).scalar_one() == schema

            relay = asyncio.create_task(run_relay_until_stopped(runtime, stop))
            await _listening(pg_database.url, outbox_channel(schema))
            await asyncio.sleep(1.0)  # the relay's first, empty pass is over; it now waits for a NOTIFY or 30 s
            data = AuditRequested(lead_id=uuid.uuid4(), audit_run_id=uuid.uuid4(), domain="pgbouncer.test",
                                  requested_at=datetime.now(UTC), requested_by="test")
            envelope = new_envelope(data)
            committed = time.monotonic()
            async with writer.runtime.uow() as uow:
                uow.add_envelope(envelope)
                await uow.commit()  # NOTIFY outbox_<schema>, through PgBouncer
            records = await read_topic(kafka_bootstrap, f"{topic_prefix}{AUDIT_REQUESTED.name}", expected=1,
                                       timeout_s=15)
            woke_after = time.monotonic() - committed
            assert len(records) == 1 and str(envelope.event_id).encode() in records[0].value
            assert woke_after < RELAY_POLL_S / 3, f"published after {woke_after:.1f} s: woken by the poll, not NOTIFY"
            async def taken_out() -> bool:
                # The relay deletes the row in the transaction it commits after the broker's ack, so a fast reader
                # can see the record first.
                async with runtime.engine.connect() as conn:
                    left = (await conn.execute(select(func.count()).select_from(outbox).where(
                        outbox.c.event_id == envelope.event_id))).scalar_one()
                return left == 0

            await wait_until(taken_out, timeout_s=5)
        finally:
            stop.set()
            if relay is not None:
                await asyncio.wait_for(relay, 30)
            await runtime.dispose()
            await writer.runtime.dispose()


async def test_size_pool_sizes_an_unused_engine_and_refuses_a_used_one(pg_database: Database,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_POOL_SIZE", raising=False)
    monkeypatch.delenv("SERVICE_DB_POOL_SIZE", raising=False)
    settings = ServiceSettings(database_url=pg_database.url, db_schema=pg_database.schema)
    runtime: ServiceRuntime[UnitOfWork] = ServiceRuntime.create(settings, UnitOfWork, migrations=None)
    before = runtime.engine
    try:
        assert size_pool(runtime, "consumers", loop_connections=3) == 4  # no subscriber, 3 loop connections, probe
        assert runtime.engine is not before
        assert runtime.engine.sync_engine.pool.size() == 4  # type: ignore[attr-defined]
        async with runtime.sessions() as session:
            assert session.bind is runtime.engine
            assert (await session.execute(text("SELECT current_schema()"))).scalar_one() == pg_database.schema
        with pytest.raises(RuntimeError, match="before the runtime's engine is first used"):
            size_pool(runtime, "relay")
    finally:
        await runtime.dispose()
        await before.dispose()
