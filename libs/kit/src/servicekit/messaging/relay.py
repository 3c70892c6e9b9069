"""The outbox relay: publishes committed outbox rows to Kafka, then deletes them (or marks them sent).

Rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so relay replicas never publish the same
row concurrently, and selected by `sent_at IS NULL` — never "id greater than the last one seen", which
would skip a row whose transaction committed late with a lower id. The claim, the sends and the delete (or the
`sent_at` update) are one transaction that commits only after the broker acknowledged every record: a crash or a
failed send in between rolls it back and the rows are published again. Delivery is at-least-once and consumers
dedupe by event_id.

By default a published row is deleted in the claim itself (`keep_sent` 0): one write per row after its insert.
With `keep_sent` > 0 (`<SVC>_OUTBOX_KEEP_SENT_S`), rows are marked sent and purged once older than that, for
whoever wants the database to show what was published (the chaos suite's judge reads them): two writes per row,
and a table that holds every event of that period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.messaging.events import kafka_headers
from servicekit.messaging.kafka_config import (
    KafkaSecurity,
    client_options,
    producer_options,
    resolve,
    start_client,
    startup_wait_s,
)
from servicekit.messaging.uow import OutboxSignal, outbox_channel
from servicekit.process.db import is_postgres, one_of, tls_needless
from servicekit.process.tables import outbox

log = logging.getLogger(__name__)

# The relay's statements on asyncpg (`OutboxRelay._publish_once_asyncpg`); `outbox` resolves through the
# connection's search_path, as every statement of the service does.
_CLAIM_UNSENT = ("SELECT id, topic, msg_key, headers, payload FROM outbox WHERE sent_at IS NULL ORDER BY id "
                 "LIMIT $1 FOR UPDATE SKIP LOCKED")
_MARK_SENT = "UPDATE outbox SET sent_at = $2 WHERE id = ANY($1::bigint[])"
# Claim and delete in one statement: the rows stay locked (and come back on rollback) until the sends are
# acknowledged and the transaction commits. RETURNING gives no order, so the caller sorts by id.
_TAKE_UNSENT = ("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1 "
                "FOR UPDATE SKIP LOCKED) RETURNING id, topic, msg_key, headers, payload")


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        *,
        schema: str | None = None,
        batch_size: int = 500,
        poll_interval_s: float = 0.05,
        signal: OutboxSignal | None = None,
        keep_sent: timedelta = timedelta(0),
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.schema = schema
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.signal = signal or OutboxSignal()
        self.keep_sent = keep_sent
        self.published_total = 0
        self._stopping = asyncio.Event()

    async def publish_once(self) -> int:
        """Claims up to one batch of unsent rows, publishes them, and deletes them or marks them sent (`keep_sent`).
        Returns the count."""
        if self.engine.dialect.driver == "asyncpg":
            count = await self._publish_once_asyncpg()
        else:
            count = await self._publish_once_core()
        self.published_total += count
        return count

    async def _publish_once_asyncpg(self) -> int:
        """On asyncpg, the cycle's statements go to the pooled connection's driver, not through SQLAlchemy.

        SQLAlchemy still owns the connection (the pool, the idle ping, the search_path), but its statement path cost
        more than the round trips themselves: an empty cycle (BEGIN, the claim, COMMIT) took 746 µs of the relay's
        CPU through SQLAlchemy against 276 µs on asyncpg. At 50 leads/s, when every commit wakes the relay, it runs
        this cycle about once per lead. The statements are written once here, so nothing needs SQLAlchemy's
        compiler; they lose its SQL spans, which the sampler drops anyway (root client spans)."""
        async with self.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None, "a checked-out connection has its driver connection"
            try:
                async with raw.transaction():
                    if self.keep_sent:
                        rows = await raw.fetch(_CLAIM_UNSENT, self.batch_size)
                    else:
                        rows = sorted(await raw.fetch(_TAKE_UNSENT, self.batch_size), key=lambda r: r["id"])
                    if not rows:
                        return 0
                    # `headers` (jsonb) arrives decoded: SQLAlchemy set the connection's jsonb codec to the engine's
                    # `json_value` when it connected.
                    await self._send_acknowledged(
                        [(r["topic"], r["msg_key"], r["headers"], r["payload"]) for r in rows])
                    if self.keep_sent:
                        await raw.execute(_MARK_SENT, [r["id"] for r in rows], datetime.now(UTC))
            except BaseException as exc:
                # A failed send left the connection clean (the transaction rolled back) and it goes back to the pool;
                # a broken one, one still in a transaction or a cancelled cycle must not be handed out again.
                if not isinstance(exc, Exception) or raw.is_closed() or raw.is_in_transaction():
                    await conn.invalidate(exc)
                raise
        return len(rows)

    async def _publish_once_core(self) -> int:
        async with self.engine.begin() as conn:
            stmt = (
                select(outbox.c.id, outbox.c.topic, outbox.c.msg_key, outbox.c.headers, outbox.c.payload)
                .where(outbox.c.sent_at.is_(None))
                .order_by(outbox.c.id)
                .limit(self.batch_size)
            )
            rows = (await conn.execute(stmt)).all()
            if not rows:
                return 0
            await self._send_acknowledged([(r.topic, r.msg_key, r.headers, r.payload) for r in rows])
            published = one_of(outbox.c.id, [r.id for r in rows], conn.dialect.name)
            if self.keep_sent:
                await conn.execute(update(outbox).where(published).values(sent_at=datetime.now(UTC)))
            else:
                await conn.execute(delete(outbox).where(published))
        return len(rows)

    async def _send_acknowledged(self, rows: list[tuple[str, str | None, Mapping[str, str], bytes]]) -> None:
        """Sends (topic, key, headers, payload) in order and waits for every acknowledgement (acks=all): the
        transaction that deletes (or marks) the rows commits only after that."""
        futures = [
            await self.producer.send(topic, value=payload, key=key.encode() if key else None,
                                     headers=kafka_headers(headers))
            for topic, key, headers, payload in rows
        ]
        await asyncio.gather(*futures)

    async def purge_sent(self) -> int:
        """Deletes rows marked sent longer than `keep_sent` ago (with `keep_sent` 0: any left by an earlier setting)."""
        cutoff = datetime.now(UTC) - self.keep_sent
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(outbox).where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    def stop(self) -> None:
        self._stopping.set()
        self.signal.notify()

    async def run(self) -> None:
        """Publishes until stopped; wakes on a commit signal (in-process), a PostgreSQL NOTIFY, or the poll tick."""
        unlisten = await self._listen()
        last_purge = datetime.now(UTC)
        try:
            while not self._stopping.is_set():
                try:
                    published = await self.publish_once()
                except Exception:
                    log.exception("outbox relay batch failed; retrying")
                    await asyncio.sleep(1.0)
                    continue
                if published >= self.batch_size:
                    continue
                if datetime.now(UTC) - last_purge > timedelta(minutes=10):
                    last_purge = datetime.now(UTC)
                    try:
                        await self.purge_sent()
                    except Exception:  # a database hiccup during the purge must not end the relay's loop
                        log.exception("outbox purge failed; trying again at the next one")
                await self.signal.wait(self.poll_interval_s)
        finally:
            await unlisten()

    async def _listen(self) -> Callable[[], Awaitable[None]]:
        url = self.engine.url.render_as_string(hide_password=False)
        if not is_postgres(url):
            return _noop
        import asyncpg

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            conn = await asyncpg.connect(dsn, ssl=False if tls_needless(url) else None)
        except Exception:
            log.warning("outbox relay could not LISTEN; polling only", exc_info=True)
            return _noop
        channel = outbox_channel(self.schema)

        def _on_notify(*_args: Any) -> None:
            self.signal.notify()

        await conn.add_listener(channel, _on_notify)

        async def _close() -> None:
            try:
                await conn.remove_listener(channel, _on_notify)
            finally:
                await conn.close()

        return _close


async def _noop() -> None:
    return None


class KitProducer(AIOKafkaProducer):  # type: ignore[misc]  # aiokafka ships no type hints
    """An `AIOKafkaProducer` whose failed start says why (servicekit.messaging.kafka_config.start_client)."""

    def __init__(self, bootstrap_servers: str, security: KafkaSecurity, **options: Any) -> None:
        super().__init__(bootstrap_servers=bootstrap_servers, **client_options(security), **options)
        self._kit_bootstrap = bootstrap_servers
        self._kit_security = security
        self._kit_client_id = options.get("client_id")

    async def start(self) -> None:
        try:
            await start_client(super().start, self._kit_bootstrap, self._kit_security,
                               what=f"Kafka producer {self._kit_client_id!r}", wait_s=startup_wait_s(),
                               # a producer's start fails in its bootstrap, before it holds anything: run it again
                               reset=_noop)
        except Exception:
            await super().stop()  # no half-started client (and no "Unclosed AIOKafkaProducer" warning)
            raise

    async def stop_within(self, flush_timeout_s: float) -> bool:
        """`stop()`, giving up on the unacknowledged records after `flush_timeout_s`; False when it had to.

        An idempotent aiokafka producer never expires a batch, and `stop()` waits for every batch: while the
        broker is unreachable a relay asked to stop (SIGTERM during an outage) never ended. Dropping those
        records loses nothing: the relay deletes (or marks) a row only in the transaction that awaited its
        acknowledgement, so the rows of an unacknowledged batch are still unsent and the next relay publishes
        them (at-least-once; consumers dedupe)."""
        stopping = asyncio.ensure_future(self.stop())
        done, _ = await asyncio.wait({stopping}, timeout=flush_timeout_s)
        if done:
            stopping.result()
            return True
        log.warning("relay producer: records still unacknowledged after %.0f s (broker unreachable?); dropped, "
                    "their outbox rows stay unsent", flush_timeout_s)
        # stop() waits for the flush OR the end of the sender task: cancelled, the sender lets its in-flight
        # requests finish, then stop() closes the connections. The dropped batches are never resolved (nobody
        # awaits them: the relay's transaction was rolled back); the process is ending.
        self._sender.sender_task.cancel()
        try:
            await asyncio.wait_for(stopping, flush_timeout_s)
        except TimeoutError:
            log.warning("relay producer: not closed within a further %.0f s", flush_timeout_s)
        return False


def make_producer(bootstrap_servers: str, client_id: str, *, security: KafkaSecurity | None = None) -> AIOKafkaProducer:
    """The relay's producer; `security`: `ServiceSettings.kafka_security` (None reads the `KAFKA_*` variables)."""
    return KitProducer(bootstrap_servers, resolve(security), **producer_options(client_id))


async def stop_producer(producer: AIOKafkaProducer, *, flush_timeout_s: float = 10.0) -> None:
    """Stops the relay's producer within about `flush_timeout_s` even while the broker is away
    (`KitProducer.stop_within`); any other producer is stopped as it is."""
    if isinstance(producer, KitProducer):
        await producer.stop_within(flush_timeout_s)
    else:
        await producer.stop()
