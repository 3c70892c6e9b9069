"""Pytest fixtures for tests that need the real broker and the real database (registered by the root
conftest). A real broker comes from `KAFKA_BOOTSTRAP_SERVERS`, else from testcontainers when a Docker engine
exists; when neither is there the test FAILS (it is never skipped). PostgreSQL comes from `TEST_DATABASE_URL`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from servicekit.process.db import drop_schema, ensure_schema

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from contracts.envelope import Envelope


async def _broker_answers(bootstrap: str, timeout_s: float = 10.0) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        await asyncio.wait_for(admin.list_topics(), timeout_s)
    finally:
        await admin.close()


def _docker_engine_present() -> bool:
    return shutil.which("docker") is not None and os.path.exists("/var/run/docker.sock")


# Topic prefixes handed out in this test session; their topics are deleted when the session ends.
_SESSION_PREFIXES: set[str] = set()


def new_topic_prefix(letter: str = "t") -> str:
    """A fresh topic prefix for one test or module, whose topics the session deletes at its end. Every test
    on a shared broker must take its prefix here: a broker keeps ~3 open files per partition, and the topics of
    a few hundred test runs exhaust its file limit (it then shuts down)."""
    prefix = f"{letter}{uuid.uuid4().hex[:10]}."
    _SESSION_PREFIXES.add(prefix)
    return prefix


def forget_topics_at_session_end(prefix: str) -> str:
    """Registers a prefix made elsewhere (e.g. by the local launcher) for the session-end cleanup."""
    if prefix:  # never the unprefixed, shared topics
        _SESSION_PREFIXES.add(prefix)
    return prefix


async def delete_prefixed_topics(bootstrap: str, prefixes: set[str], *, chunk: int = 200) -> int:
    """Deletes every topic (DLQs included) whose name starts with one of `prefixes`; returns how many."""
    from aiokafka.admin import AIOKafkaAdminClient

    prefixes = {p for p in prefixes if p}
    if not prefixes:
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=60_000)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(tuple(prefixes)))
        for start in range(0, len(names), chunk):
            await admin.delete_topics(names[start:start + chunk], timeout_ms=60_000)
        return len(names)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        try:
            asyncio.run(_broker_answers(configured))
        except Exception as exc:
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={configured} does not answer: {exc!r}")
        yield configured
        try:
            deleted = asyncio.run(delete_prefixed_topics(configured, _SESSION_PREFIXES))
            print(f"\n[kafka] deleted this session's {deleted} test topics")
        except Exception as exc:  # the verdict of the tests stands; the next session will find the leftovers
            print(f"\n[kafka] could not delete this session's test topics: {exc!r}")
        return
    if _docker_engine_present():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:8.0.0").with_kraft() as container:
            yield str(container.get_bootstrap_server())
        return
    pytest.fail("a real Kafka broker is required: set KAFKA_BOOTSTRAP_SERVERS (make test starts one) or run a Docker engine")


@pytest.fixture
def topic_prefix() -> str:
    """A prefix that gives each test its own topics on the shared broker (deleted at session end)."""
    return new_topic_prefix("t")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.fail("a real PostgreSQL is required: set TEST_DATABASE_URL (make test starts one)")
    return url


@dataclass(frozen=True)
class Database:
    url: str
    schema: str


def plan_nodes(node: dict[str, Any]) -> list[tuple[str, str]]:
    """(node type, index or relation name, else "") of every node of a JSON plan (`EXPLAIN (FORMAT JSON)`'s
    `[0]["Plan"]`), depth first: for tests that check which index a statement reads and that nothing sorts or
    scans a whole table."""
    found = [(str(node["Node Type"]), str(node.get("Index Name") or node.get("Relation Name", "")))]
    for child in node.get("Plans", []):
        found += plan_nodes(child)
    return found


@contextlib.contextmanager
def sent_statements(engine: AsyncEngine, naming: str = "") -> Iterator[list[str]]:
    """The SQL `engine` sends meanwhile, whitespace collapsed (those that contain `naming`, when given): for tests
    that count the statements, i.e. the round trips, of a code path."""
    from sqlalchemy import event

    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if naming in statement:
            sent.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@contextlib.asynccontextmanager
async def fresh_schema(postgres_url: str) -> AsyncIterator[Database]:
    """A new PostgreSQL schema, dropped on exit (a test needing a second service's schema uses it directly)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    await ensure_schema(postgres_url, schema)
    try:
        yield Database(postgres_url, schema)
    finally:
        await drop_schema(postgres_url, schema)


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[Database]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    async with fresh_schema(postgres_url) as database:
        yield database


@pytest.fixture
def sqlite_database(tmp_path: os.PathLike[str]) -> Database:
    return Database(f"sqlite+aiosqlite:///{os.fspath(tmp_path)}/test.db", "main")


async def read_topic(
    bootstrap: str, topic: str, *, expected: int, timeout_s: float = 30.0
) -> list[Any]:
    """Reads a topic from the beginning (no group, no commits) until `expected` records or the timeout."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    partitions = await topic_partitions(bootstrap, topic, timeout_s=timeout_s)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        if not partitions:
            return records
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def topic_partitions(bootstrap: str, topic: str, *, timeout_s: float = 10.0) -> list[int]:
    """The partition ids of a topic (empty when it does not exist)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await asyncio.wait_for(admin.describe_topics([topic]), timeout_s)
    finally:
        await admin.close()
    for item in described:
        if item.get("topic") == topic and not item.get("error_code"):
            return sorted(int(p["partition"]) for p in item.get("partitions", []))
    return []


async def publish_raw(
    bootstrap: str, topic: str, values: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]
) -> None:
    """Publishes (key, value, headers) records as they are, including bytes that are not events (poison)."""
    from aiokafka import AIOKafkaProducer

    from servicekit.messaging.kafka_config import PRODUCER_SAFETY

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SAFETY)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()




def envelope_record(envelope: Envelope) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of an envelope as the relay would publish it."""
    from servicekit.messaging.events import encode, headers_for, kafka_headers

    key = str(envelope.lead_id).encode() if envelope.lead_id else None
    return key, encode(envelope), kafka_headers(headers_for(envelope))


async def publish_envelopes(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    await publish_raw(bootstrap, topic, [envelope_record(e) for e in envelopes])


async def wait_until(predicate: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0,
                     interval_s: float = 0.05, what: str = "condition") -> None:
    """Polls an async predicate; fails the test with `what` when it does not hold in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)


async def run_ops(*args: str, env: dict[str, str] | None = None, timeout_s: float = 180.0) -> tuple[int, str]:
    """Runs the `outreach-ops` console script of this environment as its own process (as an operator would):
    (exit code, stdout and stderr together). `env` is added to this process's environment."""
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("outreach-ops")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from outreach_ops.cli import main; main()"]
    proc = await asyncio.create_subprocess_exec(
        *command, *args, env={**os.environ, "COLUMNS": "200", **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return int(proc.returncode or 0), out.decode(errors="replace")


async def committed_total(bootstrap: str, group: str) -> int:
    """The sum of a consumer group's committed offsets over every partition (how many records it has consumed
    of topics that started at offset 0)."""
    from servicekit.messaging.kafka_admin import admin_client, committed_offsets

    async with admin_client(bootstrap) as admin:
        return sum(offset for offset, _ in (await committed_offsets(admin, group)).values())


async def differing_rows(engine: Any, live: Any, fresh_name: str, *, ignore: Sequence[str] = ()
                         ) -> tuple[int, dict[str, list[tuple[Any, Any]]]]:
    """Reads the live ORM table `live` and the rebuilt table `fresh_name` (same columns) row by row through the
    ORM's types and compares every column but `ignore`: (rows compared, {key: [(live value, rebuilt value) of
    each differing column]}); a row in one table only differs with (row, None) or (None, row)."""
    from sqlalchemy import select

    from servicekit.messaging.rebuild_spec import fresh_table

    fresh = fresh_table(live, fresh_name)
    key = [c.name for c in live.primary_key.columns]
    columns = [c.name for c in live.columns if c.name not in ignore]

    async def rows(table: Any) -> dict[str, dict[str, Any]]:
        async with engine.connect() as conn:
            result = (await conn.execute(select(table))).mappings().all()
        return {",".join(str(r[k]) for k in key): dict(r) for r in result}

    mine, theirs = await rows(live), await rows(fresh)
    differences: dict[str, list[tuple[Any, Any]]] = {}
    for k in sorted(set(mine) | set(theirs)):
        a, b = mine.get(k), theirs.get(k)
        if a is None or b is None:
            differences[k] = [(a, b)]
            continue
        changed = [(c, a[c], b[c]) for c in columns if a[c] != b[c]]
        if changed:
            differences[k] = [(f"{c}={x!r}", f"{c}={y!r}") for c, x, y in changed]
    return len(set(mine) | set(theirs)), differences
