"""Migrations as their own step with a DDL role, services with a DML-only role (issue 18, item 6), for real.

Each test gets a fresh database (created by `outreach`, which has CREATEDB; dropped at the end):

- before the migration step, the runtime role `outreach_app` (deploy/local/postgres.sh) can neither migrate at
  start (MIGRATE_ON_START=true: a clear MigrationStartupError naming the role and the migrate command, from
  every service; the leads API process exits with it) nor pass `migrate --wait` (exit 1 after
  MIGRATE_WAIT_TIMEOUT_S), and leaves nothing behind;
- `python -m <service>.entrypoints.migrate` for every service as real processes with the DDL role and
  DB_RUNTIME_ROLE=outreach_app (as the Kubernetes Jobs run them, concurrently); then, as outreach_app: DDL is
  refused in every service schema, DML is granted on every table (and on tables later migrations create),
  `migrate --wait` exits 0, and the services run with MIGRATE_ON_START=false: the leads API and relay as real
  processes, the other APIs and the consumers in-process. One lead created through the leads API and its
  Start audit go through leads' outbox and relay to the consumers of unibox, writeback and audits, whose APIs
  then answer with what they wrote; unibox stores a webhook; the PlusVibe slot table is usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from contracts.topics import ALL_TOPICS
from outreach_local.system import free_port
from outreach_ops.topic_admin import ensure_topics
from plusvibe.settings import PlusVibeSettings
from plusvibe.slots import TABLE as SLOT_TABLE
from plusvibe.slots import PostgresSlots, asyncpg_dsn
from servicekit.process.migrate_cli import current_revision, head_revision, migrate_main
from servicekit.process.runtime import MigrationStartupError, run_consumers_until_stopped
from servicekit.web.auth import hash_key

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

SERVICES = ("audits", "leads", "writeback", "unibox")
# The runtime role of deploy/local/postgres.sh (and of docker-compose.yml / deploy/k8s): LOGIN, no CREATEDB,
# owns nothing; its rights on a schema come from that schema's migration step.
RUNTIME_ROLE = os.environ.get("TEST_RUNTIME_ROLE", "outreach_app")
RUNTIME_PASSWORD = os.environ.get("TEST_RUNTIME_ROLE_PASSWORD", RUNTIME_ROLE)
API_KEY = "roles-suite-key"
WEBHOOK_SECRET = "roles-suite-webhook-secret"
# Nothing listens on the discard port: PlusVibe is never called here, and if it were it would stay on loopback.
NO_PLUSVIBE = "http://127.0.0.1:9/api/v1"
PROCESS_TIMEOUT_S = 60.0
DML = ("SELECT", "INSERT", "UPDATE", "DELETE")


@dataclass(frozen=True)
class FreshDatabase:
    name: str
    ddl_url: str  # as the owner / migration role (outreach)
    app_url: str  # as the runtime role (outreach_app)


def _url(base: str, *, user: str, password: str, database: str) -> str:
    return make_url(base).set(username=user, password=password, database=database).render_as_string(
        hide_password=False)


def migrations_of(service: str) -> str:
    module = __import__(f"{service}.bootstrap", fromlist=["MIGRATIONS"])
    return str(module.MIGRATIONS)


@pytest.fixture
async def fresh_database(postgres_url: str) -> AsyncIterator[FreshDatabase]:
    """A database of its own (every service schema and the shared `plusvibe_limits` start absent), made by the
    DDL role and dropped at the end; fails, never skips, when the runtime role is missing or not restricted."""
    owner = make_url(postgres_url)
    name = f"t_roles_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    db = FreshDatabase(name, ddl_url=_url(postgres_url, user=owner.username or "", password=owner.password or "",
                                          database=name),
                       app_url=_url(postgres_url, user=RUNTIME_ROLE, password=RUNTIME_PASSWORD, database=name))
    try:
        try:
            conn = await asyncpg.connect(asyncpg_dsn(db.app_url), timeout=10)
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
            pytest.fail(f"the runtime role {RUNTIME_ROLE} cannot log in ({exc}); `bash deploy/local/postgres.sh start` "
                        "creates it")
        try:
            role = await conn.fetchrow("SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles "
                                       "WHERE rolname = current_user")
            may_create = await conn.fetchval("SELECT has_database_privilege(current_database(), 'CREATE')")
        finally:
            await conn.close()
        assert role is not None and not any(role.values()), f"{RUNTIME_ROLE} is not a restricted role: {dict(role or {})}"
        assert not may_create, f"{RUNTIME_ROLE} may create schemas in {name}"
        yield db
    finally:
        await _drop_database(postgres_url, name)


async def _drop_database(postgres_url: str, name: str) -> None:
    # The owner cannot terminate the runtime role's sessions (WITH (FORCE) needs that right): every process and
    # engine of the test is closed before this runs; a session still closing gets a few seconds.
    deadline = time.monotonic() + 15
    while True:
        admin = await asyncpg.connect(asyncpg_dsn(postgres_url), timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (asyncpg.ObjectInUseError, asyncpg.InsufficientPrivilegeError):
            if time.monotonic() > deadline:
                raise
        finally:
            await admin.close()
        await asyncio.sleep(0.5)


# --- processes ----------------------------------------------------------------------------------------------

def process_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """What a deployment gives a service process: the environment only (no service-prefixed leftovers)."""
    prefixes = (*(f"{s.upper()}_" for s in SERVICES), "PLUSVIBE_")
    dropped = {"DATABASE_URL", "MIGRATE_ON_START", "DB_RUNTIME_ROLE", "MIGRATE_WAIT_TIMEOUT_S"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in dropped}
    env.update({
        "DATABASE_URL": database_url,
        "OUTREACH_DATA_DIR": str(tmp_path / "data"),
        "API_KEYS": json.dumps([{"name": "t", "sha256": hash_key(API_KEY), "scopes": ["*"]}]),
        "PLUSVIBE_BASE_URL": NO_PLUSVIBE, "PLUSVIBE_API_KEY": "", "PLUSVIBE_WORKSPACE_ID": "",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


@dataclass
class Finished:
    argv: list[str]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"{' '.join(self.argv[1:])} exited {self.code}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


async def run(argv: list[str], env: dict[str, str], cwd: Path) -> Finished:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), PROCESS_TIMEOUT_S)
    except BaseException as exc:  # timed out, or the test failed first: no process outlives it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise AssertionError(f"{' '.join(argv[1:])} did not finish within {PROCESS_TIMEOUT_S:g} s") from None
        raise
    assert proc.returncode is not None
    return Finished(argv, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def migrate_argv(service: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"{service}.entrypoints.migrate", *args]


def api_argv(service: str, port: int) -> list[str]:
    # As the local launcher and the images start an API (deploy/local/launcher, outreach_local.system).
    return [sys.executable, "-m", "uvicorn", "--factory", f"{service}.entrypoints.http:app_factory",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]


@dataclass
class Running:
    name: str
    proc: asyncio.subprocess.Process
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:] if self.log.exists() else []
        return f"--- {self.name} ---\n" + "\n".join(text)


@contextlib.asynccontextmanager
async def spawned(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> AsyncIterator[Running]:
    log = cwd / f"{name}.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=cwd, stdout=sink,
                                                    stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    running = Running(name, proc, log)
    try:
        yield running
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()


async def wait_ready(running: Running, url: str, timeout_s: float = PROCESS_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while True:
            assert running.proc.returncode is None, f"{running.name} exited {running.proc.returncode}\n{running.tail()}"
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            assert time.monotonic() < deadline, f"{running.name} not ready after {timeout_s:g} s\n{running.tail()}"
            await asyncio.sleep(0.2)


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:g} s"
        await asyncio.sleep(0.2)


# --- the services in this process ---------------------------------------------------------------------------

def in_process_service(service: str, database_url: str, *, migrate_on_start: bool, kafka: str = "127.0.0.1:9",
                       prefix: str = "") -> Any:
    """`<service>.bootstrap.bootstrap(...)` with the settings a deployment would give, as the runtime role."""
    common: dict[str, Any] = {
        "database_url": database_url, "migrate_on_start": migrate_on_start, "kafka_bootstrap_servers": kafka,
        "kafka_topic_prefix": prefix, "log_json": False, "rate_limit_per_s": 0, "consumer_transient_budget_s": 5,
        "api_keys_json": json.dumps([{"name": "t", "sha256": hash_key(API_KEY), "scopes": ["*"]}]),
    }
    unconfigured = PlusVibeSettings(base_url=NO_PLUSVIBE, api_key="", workspace_id="")
    if service == "audits":
        from audits.bootstrap import bootstrap as audits_bootstrap
        from audits.settings import AuditsSettings

        return audits_bootstrap(AuditsSettings(resolver="static", **common))
    if service == "leads":
        from leads.bootstrap import bootstrap as leads_bootstrap
        from leads.settings import LeadsSettings

        return leads_bootstrap(LeadsSettings(**common), plusvibe_settings=unconfigured)
    if service == "writeback":
        from writeback.bootstrap import bootstrap as writeback_bootstrap
        from writeback.settings import WritebackSettings

        return writeback_bootstrap(WritebackSettings(**common), plusvibe_settings=unconfigured)
    from unibox.bootstrap import bootstrap as unibox_bootstrap
    from unibox.settings import UniboxSettings

    return unibox_bootstrap(UniboxSettings(webhook_secret=WEBHOOK_SECRET, **common), plusvibe_settings=unconfigured)


async def close_clients(svc: Any) -> None:
    aclose = getattr(svc, "aclose", None)  # the service's own clients (unibox: its PlusVibe client)
    if aclose is not None:
        await aclose()


async def wait_in_process(database_url: str) -> list[int]:
    """`migrate --wait` of every service through `migrate_main`, the function each entrypoint runs."""
    svcs = [in_process_service(s, database_url, migrate_on_start=False) for s in SERVICES]
    try:
        return list(await asyncio.gather(*(migrate_main(svc.runtime, ["--wait"]) for svc in svcs)))
    finally:
        for svc in svcs:
            await close_clients(svc)


def app_of(service: str, svc: Any) -> FastAPI:
    module = __import__(f"{service}.entrypoints.http", fromlist=["create_app"])
    app: FastAPI = module.create_app(service=svc)
    return app


def client_of(app: FastAPI, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}",
                             headers={"X-API-Key": API_KEY})


async def schemas_present(url: str) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[]) ORDER BY 1",
                                [*SERVICES, SLOT_TABLE.split(".")[0]])
        return [r["nspname"] for r in rows]
    finally:
        await conn.close()


# --- before the migration step ------------------------------------------------------------------------------

async def test_before_the_migration_step_the_runtime_role_cannot_migrate_at_start_nor_pass_the_wait(
    fresh_database: FreshDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = fresh_database
    heads = {s: head_revision(migrations_of(s)) for s in SERVICES}
    assert all(heads.values()), heads

    # Real processes: the leads API started as outreach_app with the default MIGRATE_ON_START=true, and the
    # initContainer's `migrate --wait` with a 1 s budget.
    api = asyncio.create_task(run(api_argv("leads", free_port()),
                                  process_env(tmp_path, db.app_url, MIGRATE_ON_START="true"), tmp_path))
    wait = asyncio.create_task(run(migrate_argv("leads", "--wait"),
                                   process_env(tmp_path, db.app_url, MIGRATE_WAIT_TIMEOUT_S="1"), tmp_path))

    # Every service in-process, meanwhile: the start-up migration is refused with the kit's clear error ...
    for service in SERVICES:
        svc = in_process_service(service, db.app_url, migrate_on_start=True)
        app = app_of(service, svc)
        try:
            with pytest.raises(MigrationStartupError) as refused:
                async with app.router.lifespan_context(app):
                    pytest.fail(f"{service} started as {RUNTIME_ROLE} on an unmigrated database")
        finally:
            await svc.runtime.dispose()
            await close_clients(svc)
        message = str(refused.value)
        assert message.startswith(f"{service}: cannot migrate schema '{service}' at start (MIGRATE_ON_START=true)")
        assert f"database role '{RUNTIME_ROLE}' has no DDL rights" in message, message
        assert f"permission denied for database {db.name}" in message, message
        assert f"`python -m {service}.entrypoints.migrate`" in message and "MIGRATE_ON_START=false" in message
        assert f"DB_RUNTIME_ROLE={RUNTIME_ROLE}" in message

    # ... and `--wait` (migrate_main, what every entrypoint runs) gives up with exit 1, naming the head.
    monkeypatch.setenv("MIGRATE_WAIT_TIMEOUT_S", "0.5")
    capsys.readouterr()
    assert await wait_in_process(db.app_url) == [1] * len(SERVICES)
    err = capsys.readouterr().err
    for service in SERVICES:
        assert (f"[migrate] {service}: schema '{service}' is at no revision (never migrated), not this image's head "
                f"{heads[service]}, after 0.5 s") in err, err

    api_done, wait_done = await api, await wait
    assert api_done.code != 0, api_done
    printed = api_done.out + api_done.err
    assert (f"leads: cannot migrate schema 'leads' at start (MIGRATE_ON_START=true): database role '{RUNTIME_ROLE}' "
            f"has no DDL rights (permission denied for database {db.name})") in printed, api_done
    assert "Application startup failed" in printed and "ProgrammingError" not in printed, api_done
    assert wait_done.code == 1, wait_done
    assert f"not this image's head {heads['leads']}, after 1 s" in wait_done.err, wait_done
    assert "has the migration step (python -m leads.entrypoints.migrate with the DDL role) run?" in wait_done.err

    # The refusals left nothing behind, and the PlusVibe slot table (created by the migration step) is missing
    # with an error that says so rather than being created by the runtime role.
    assert await schemas_present(db.ddl_url) == []
    slots = PostgresSlots(db.app_url)
    try:
        with pytest.raises(RuntimeError, match=r"may not create it: run the service's migrations"):
            await slots.reserve("acct-roles", 0.2)
    finally:
        await slots.close()
    assert await schemas_present(db.ddl_url) == []


# --- the migration step, then the services as the runtime role ----------------------------------------------

async def assert_dml_only(db: FreshDatabase) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(db.app_url), timeout=10)
    try:
        assert await conn.fetchval("SELECT current_user") == RUNTIME_ROLE
        for schema in SERVICES:
            tables = [r["relname"] for r in await conn.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1", schema)]
            assert {"alembic_version", "outbox", "inbox"} <= set(tables), (schema, tables)
            missing = await conn.fetch(
                "SELECT c.relname, p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "CROSS JOIN unnest($2::text[]) AS p "
                "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT has_table_privilege(c.oid, p)",
                schema, list(DML))
            assert missing == [], (schema, [tuple(r) for r in missing])
            sequences = await conn.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                # CASE: the planner may test the privilege before the relkind, and it raises on non-sequences.
                "WHERE n.nspname = $1 AND c.relkind = 'S' "
                "AND NOT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'USAGE') ELSE true END", schema)
            assert sequences == [], (schema, [r["relname"] for r in sequences])
            beyond = await conn.fetch(
                "SELECT c.relname, p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "CROSS JOIN unnest(ARRAY['TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p "
                "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, p)", schema)
            assert beyond == [], (schema, [tuple(r) for r in beyond])  # row rights only
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"permission denied for schema {schema}"):
                await conn.execute(f"CREATE TABLE {schema}.intruder (id int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner of table outbox"):
                await conn.execute(f"ALTER TABLE {schema}.outbox ADD COLUMN intruder int")
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner of table inbox"):
                await conn.execute(f"DROP TABLE {schema}.inbox")
        # The sequence check above is not vacuous: every outbox id has one.
        assert await conn.fetchval("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'S'", list(SERVICES)) >= len(SERVICES)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"permission denied for database {db.name}"):
            await conn.execute("CREATE SCHEMA intruder")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for schema plusvibe_limits"):
            await conn.execute("CREATE TABLE plusvibe_limits.intruder (id int)")
    finally:
        await conn.close()


async def assert_later_tables_are_granted(db: FreshDatabase) -> None:
    """A later migration's new table (created by the DDL role) is usable by the runtime role without another
    GRANT: the step's ALTER DEFAULT PRIVILEGES."""
    owner = await asyncpg.connect(asyncpg_dsn(db.ddl_url), timeout=10)
    try:
        await owner.execute("CREATE TABLE leads.later_migration (id bigserial PRIMARY KEY, note text)")
    finally:
        await owner.close()
    conn = await asyncpg.connect(asyncpg_dsn(db.app_url), timeout=10)
    try:
        await conn.execute("INSERT INTO leads.later_migration (note) VALUES ('x')")
        assert await conn.execute("UPDATE leads.later_migration SET note = 'y'") == "UPDATE 1"
        assert await conn.execute("DELETE FROM leads.later_migration") == "DELETE 1"
    finally:
        await conn.close()


async def test_the_migration_step_then_every_service_runs_as_the_dml_only_role(
    fresh_database: FreshDatabase, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    db = fresh_database
    heads = {s: head_revision(migrations_of(s)) for s in SERVICES}
    topics = asyncio.create_task(ensure_topics(kafka_bootstrap, ALL_TOPICS, prefix=topic_prefix))

    # 1. The migration step of every service, as the Jobs of a release run it: concurrently, DDL role.
    job_env = process_env(tmp_path, db.ddl_url, DB_RUNTIME_ROLE=RUNTIME_ROLE)
    jobs = await asyncio.gather(*(run(migrate_argv(s), job_env, tmp_path) for s in SERVICES))
    for service, job in zip(SERVICES, jobs, strict=True):
        assert job.code == 0, job
        assert f"[migrate] {service}: at head {heads[service]}, granted to {RUNTIME_ROLE}" in job.out, job
    assert await schemas_present(db.ddl_url) == sorted([*SERVICES, "plusvibe_limits"])

    # 2. The restriction is real.
    await assert_dml_only(db)
    await assert_later_tables_are_granted(db)
    for service in SERVICES:
        assert await current_revision(db.app_url, service) == heads[service]  # what --wait reads, as the role

    # 3. As the runtime role with MIGRATE_ON_START=false: `migrate --wait` passes, the leads API and relay run
    #    as processes; the other services in-process (their APIs with the kit lifespan, their consumers).
    await topics
    app_env = {"MIGRATE_ON_START": "false", "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
               "KAFKA_TOPIC_PREFIX": topic_prefix}
    api_port, relay_port = free_port(), free_port()
    wait = asyncio.create_task(run(migrate_argv("leads", "--wait"),
                                   process_env(tmp_path, db.app_url, MIGRATE_WAIT_TIMEOUT_S="30", **app_env), tmp_path))
    capsys.readouterr()
    assert await wait_in_process(db.app_url) == [0] * len(SERVICES)
    out = capsys.readouterr().out
    assert all(f"[migrate] {s}: schema at head {heads[s]}" in out for s in SERVICES), out

    services = {s: in_process_service(s, db.app_url, migrate_on_start=False, kafka=kafka_bootstrap,
                                      prefix=topic_prefix) for s in ("audits", "writeback", "unibox")}
    apps = {s: app_of(s, svc) for s, svc in services.items()}
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        consumers = [asyncio.create_task(run_consumers_until_stopped(svc.runtime, stop)) for svc in services.values()]
        # Consumers stop before the lifespans dispose their engines (the stack unwinds in reverse order).
        stack.push_async_callback(_stop_consumers, stop, consumers)
        api = await stack.enter_async_context(spawned("leads-api", api_argv("leads", api_port),
                                                      process_env(tmp_path, db.app_url, **app_env), tmp_path))
        relay = await stack.enter_async_context(spawned(
            "leads-relay", [sys.executable, "-m", "leads.entrypoints.relay"],
            process_env(tmp_path, db.app_url, LEADS_WORKER_HEALTH_PORT=str(relay_port), **app_env), tmp_path))
        clients = {s: await stack.enter_async_context(client_of(app, s)) for s, app in apps.items()}
        leads = await stack.enter_async_context(httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", headers={"X-API-Key": API_KEY}, trust_env=False, timeout=10))

        waited = await wait
        assert waited.code == 0 and f"[migrate] leads: schema at head {heads['leads']}" in waited.out, waited
        await wait_ready(api, f"http://127.0.0.1:{api_port}/health/ready")
        await wait_ready(relay, f"http://127.0.0.1:{relay_port}/health/ready")
        for s, client in clients.items():
            # Ready as the DML-only role; a probe that timed out on a loaded machine is asked again (a missing
            # grant never becomes ok, so this still fails on it, with the last answer).
            last: list[str] = []

            async def database_ok(client: httpx.AsyncClient = client, last: list[str] = last) -> bool:
                ready = await client.get("/health/ready")
                last[:] = [ready.text]
                return ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"

            try:
                await eventually(database_ok, f"{s} ready as the DML-only role", timeout_s=30.0)
            except AssertionError as exc:
                raise AssertionError((s, last)) from exc

        # A write through leads' outbox, twice (the lead, then its Start audit), relayed by the relay process.
        email = f"ada+{uuid.uuid4().hex[:8]}@acme.test"
        created = await leads.post("/api/leads", json={"companyName": "Acme", "domain": "acme.test",
                                                       "contact": {"firstName": "Ada", "email": email}})
        assert created.status_code == 201, created.text
        lead_id = created.json()["id"]
        started = await leads.post(f"/api/leads/{lead_id}/audits")
        assert started.status_code == 202, started.text
        run_id = started.json()["auditRunId"]

        async def relayed() -> bool:
            assert relay.proc.returncode is None, relay.tail()
            conn = await asyncpg.connect(asyncpg_dsn(db.app_url), timeout=10)
            try:
                left = await conn.fetchval("SELECT count(*) FROM leads.outbox")
            finally:
                await conn.close()
            # The relay deletes a row once its record is acknowledged (its DELETE grant); the consumers below
            # show the records reached their topics.
            return bool(left == 0)

        await eventually(relayed, "the leads relay (as the runtime role) taking its rows out of the outbox")

        # Each consumer (as the runtime role: inbox + its own tables) applied them; each API shows it.
        async def consumers_alive() -> None:
            for task in consumers:
                assert not task.done(), f"a consumer loop ended: {task.exception() if not task.cancelled() else ''}"

        async def audit_queued() -> Any:
            await consumers_alive()
            r = await clients["audits"].get(f"/api/audits/{run_id}")
            return r.json() if r.status_code == 200 else None

        run_out = await eventually(audit_queued, "audits' consumer queueing the requested audit")
        assert run_out["leadId"] == lead_id and run_out["domain"] == "acme.test" and run_out["status"] == "queued"

        async def writeback_projected() -> Any:
            await consumers_alive()
            r = await clients["writeback"].get(f"/api/writeback/leads/{lead_id}")
            return r.json() if r.status_code == 200 else None  # 404 until its projection has the lead

        projected = await eventually(writeback_projected, "writeback's consumer projecting the lead")
        assert projected["leadId"] == lead_id and projected["lastAttempt"] is None, projected

        async def unibox_projected() -> Any:
            await consumers_alive()
            conn = await asyncpg.connect(asyncpg_dsn(db.app_url), timeout=10)
            try:
                return await conn.fetchval("SELECT lead_id FROM unibox.lead_projection WHERE email = $1",
                                           email.lower())
            finally:
                await conn.close()

        assert str(await eventually(unibox_projected, "unibox's consumer projecting the lead")) == lead_id

        hook = await clients["unibox"].post("/api/plusvibe/webhooks", headers={"x-plusvibe-secret": WEBHOOK_SECRET},
                                            json={"webhook_event": "EMAIL_SENT", "email": email})
        assert hook.status_code == 200 and hook.json()["status"] == "accepted", hook.text

    # The shared PlusVibe slot table, as the runtime role: one slot now, the next one interval later.
    slots = PostgresSlots(db.app_url)
    try:
        assert await slots.reserve("acct-roles", 0.5) == 0.0
        assert 0.3 < await slots.reserve("acct-roles", 0.5) <= 0.5
    finally:
        await slots.close()
    conn = await asyncpg.connect(asyncpg_dsn(db.app_url), timeout=10)
    try:
        assert await conn.fetchval("SELECT count(*) FROM unibox.webhook_events") == 1
    finally:
        await conn.close()


async def _stop_consumers(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stop.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures
