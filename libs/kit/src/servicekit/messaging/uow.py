"""The unit of work: one database transaction that holds a handler's effects, its outbox rows and its
inbox record, so that they commit (or roll back) together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from sqlalchemy import String, TextClause, Uuid, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.envelope import MAX_RECORD_BYTES, Envelope, EventData
from contracts.topics import TOPIC_BY_EVENT_TYPE
from servicekit.messaging.events import encode, headers_for, new_envelope
from servicekit.process.bulk import bulk_insert, unnest_insert
from servicekit.process.db import one_of
from servicekit.process.tables import inbox, outbox
from servicekit.process.tracing import inject_traceparent

TopicNamer = Callable[[str], str]


def outbox_channel(schema: str | None) -> str:
    """The PostgreSQL NOTIFY channel the relay of one schema listens on."""
    return f"outbox_{schema or 'public'}"


class OutboxSignal:
    """Wakes an in-process relay as soon as a transaction with outbox rows commits."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
        self._event.clear()


def _inbox_lookup(column: str, *, id_as_text: bool) -> TextClause:
    """The claims of one group among a batch's event ids, on PostgreSQL: one probe of the inbox's key per id.

    Written as a LATERAL lookup per id (`LIMIT 1`: the key is unique; it also keeps the planner from turning the
    lookup into a join) rather than `consumer_group = :group AND event_id = ANY(:ids)`. With the latter, a planner
    without statistics for the inbox (a table that grew since its last ANALYZE: after a first pass, before
    autovacuum analysed it) took the key's first column alone, read every claim of the group and filtered them
    against the whole array: 17-20 ms per batch of 500 ids at 100,000 claims instead of 2 ms, which made a replay
    of 100,000 records five times slower in some runs (docs/PERFORMANCE.md). This form is an index probe per id with
    or without statistics."""
    out = "w.id::text" if id_as_text else "w.id"
    return text(f"SELECT {out} AS event_id, i.digest FROM unnest(CAST(:ids AS uuid[])) AS w(id) CROSS JOIN LATERAL "
                f"(SELECT {column} AS digest FROM inbox WHERE consumer_group = :group AND event_id = w.id LIMIT 1) "
                "AS i")


_INBOX_RECORD_DIGESTS = _inbox_lookup("record_sha256", id_as_text=True)
_INBOX_DIGESTS = {column: _inbox_lookup(column, id_as_text=False).columns(event_id=Uuid(), digest=String())
                  for column in ("payload_sha256", "record_sha256")}


class UnitOfWork:
    """`async with uow: ...; await uow.commit()`. Leaving the block without commit rolls back.

    Services subclass it and attach repositories in `_open()`.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        topic_namer: TopicNamer = lambda name: name,
        schema: str | None = None,
        signal: OutboxSignal | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._topic_namer = topic_namer
        self._schema = schema
        self._signal = signal
        self._session: AsyncSession | None = None
        self._pending_outbox = 0
        self._outbox_rows: list[dict[str, object]] = []
        self._after_commit: list[Callable[[], None]] = []
        self.published: list[Envelope] = []

    def engine(self) -> AsyncEngine:
        """The engine behind this unit of work, for read-only queries that need no session or transaction."""
        bind = self._session_factory.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            raise RuntimeError("the session factory has no engine bound")
        return bind

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        self._pending_outbox = 0
        self._outbox_rows = []
        self._after_commit = []
        self.published = []
        await self._open()
        return self

    async def _open(self) -> None:
        """Hook for subclasses: build repositories on `self.session`."""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self._session
        self._session = None
        if session is None:
            return
        try:
            await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        session = self.session
        if self._pending_outbox and self.dialect == "postgresql":
            # NOTIFY is delivered only when the transaction commits; it wakes relays in other processes.
            # It rides in the outbox INSERT's statement unless the rows were already flushed.
            channel = outbox_channel(self._schema)
            if self._outbox_rows:
                rows, self._outbox_rows = self._outbox_rows, []
                await unnest_insert(session, outbox, rows, notify_channel=channel)
            else:
                await session.execute(text("SELECT pg_notify(:ch, '')"), {"ch": channel})
        else:
            await self.flush_outbox()
        await session.commit()
        if self._pending_outbox and self._signal is not None:
            self._signal.notify()
        self._pending_outbox = 0
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs `callback` once this transaction has committed (not if it rolls back): e.g. waking a loop that
        works on what the transaction wrote."""
        self._after_commit.append(callback)

    async def rollback(self) -> None:
        await self.session.rollback()
        self._pending_outbox = 0
        self._outbox_rows = []
        self._after_commit = []
        self.published = []

    def publish(
        self,
        data: EventData,
        *,
        lead_id: UUID | None = None,
        causation: Envelope | None = None,
        causation_id: UUID | None = None,
        correlation_id: UUID | None = None,
        workspace_id: str | None = None,
        key: str | None = None,
    ) -> Envelope:
        """Writes the event to the outbox inside this transaction; the relay publishes it after commit. The cause
        is the causing envelope or its id (`servicekit.messaging.events.new_envelope`)."""
        envelope = new_envelope(data, lead_id=lead_id, causation=causation, causation_id=causation_id,
                                correlation_id=correlation_id, workspace_id=workspace_id)
        self.add_envelope(envelope, key=key)
        return envelope

    def add_envelope(self, envelope: Envelope, *, key: str | None = None) -> None:
        """Refuses (ValueError) what every consumer would park (`servicekit.messaging.events.check_record`): a key other
        than the event's lead id, or an envelope over MAX_RECORD_BYTES. Refused here, the handler's transaction
        fails where the cause is; published, the relay could not even send a record over the broker's limit."""
        spec = TOPIC_BY_EVENT_TYPE[envelope.event_type]
        headers = headers_for(envelope)
        inject_traceparent(headers)  # the trace of the request or record being handled continues downstream
        if key is not None and envelope.lead_id is not None and key != str(envelope.lead_id):
            raise ValueError(f"key {key!r} is not the lead id of this {envelope.event_type}")
        msg_key = key if key is not None else (str(envelope.lead_id) if envelope.lead_id else None)
        payload = encode(envelope)
        if len(payload) > MAX_RECORD_BYTES:
            raise ValueError(f"{envelope.event_type} of {len(payload):,} bytes is over the {MAX_RECORD_BYTES:,}-byte "
                             "record limit")
        self._outbox_rows.append(
            {
                "event_id": envelope.event_id,
                "event_type": envelope.event_type,
                "topic": self._topic_namer(spec.name),
                "msg_key": msg_key,
                "headers": headers,
                "payload": payload,
                "created_at": datetime.now(UTC),
            }
        )
        self.published.append(envelope)
        self._pending_outbox += 1

    async def flush_outbox(self) -> None:
        """Inserts the collected outbox rows (called by commit; handlers may call it to see errors early)."""
        if self._outbox_rows:
            rows, self._outbox_rows = self._outbox_rows, []
            await bulk_insert(self.session, outbox, rows)

    async def claim_inbox(self, consumer_group: str, event_id: UUID, event_type: str,
                          digest: str | None = None) -> bool:
        """Records the event for this consumer group; False when it was already processed (a duplicate)."""
        return event_id in await self.claim_inbox_many(consumer_group, [(event_id, event_type)],
                                                       digests={event_id: digest} if digest else None)

    async def claim_inbox_many(self, consumer_group: str, events: Sequence[tuple[UUID, str]],
                               digests: Mapping[UUID, str] | None = None,
                               record_digests: Mapping[UUID, str] | None = None) -> set[UUID]:
        """`claim_inbox` for a whole batch in one statement (PostgreSQL; 200 rows per statement on SQLite).
        Returns the ids recorded now; the others were already processed (duplicates). `digests` (event id →
        `payload_digest`) are stored with the claims so a later reuse of an id can be told apart;
        `record_digests` (event id → `record_digest`) so a later read of the same record can be skipped."""
        now = datetime.now(UTC)
        digests = digests or {}
        record_digests = record_digests or {}
        rows = [{"consumer_group": consumer_group, "event_id": event_id, "event_type": event_type,
                 "processed_at": now, "payload_sha256": digests.get(event_id),
                 "record_sha256": record_digests.get(event_id)} for event_id, event_type in events]
        if self.dialect == "postgresql":  # one fixed statement for any batch size
            return set(await unnest_insert(self.session, inbox, rows,
                                           on_conflict_do_nothing=("consumer_group", "event_id"),
                                           returning="event_id"))
        claimed: set[UUID] = set()
        for start in range(0, len(rows), 200):
            stmt = (sqlite_insert(inbox).values(rows[start:start + 200])
                    .on_conflict_do_nothing(index_elements=["consumer_group", "event_id"])
                    .returning(inbox.c.event_id))
            claimed.update((await self.session.execute(stmt)).scalars())
        return claimed

    async def claim_inbox_batch(self, consumer_group: str, events: Sequence[tuple[UUID, str]],
                                digests: Mapping[UUID, str], record_digests: Mapping[UUID, str] | None = None,
                                ) -> tuple[set[UUID], dict[UUID, str | None]]:
        """`claim_inbox_many`, then the stored digests of the ids it did not claim: returns the ids recorded now
        and, for ids already claimed, their stored payload digest (None for claims older than kit tables v2).
        A batch of new events is one statement; the lookup runs only when some id was claimed before. (One
        statement for both, an INSERT in a CTE beside a SELECT, measured slower at 50 leads/s: p99 196–250 ms
        against 186–203 ms on a noisy machine.) The lookup is a later statement, so it sees every claim that
        made the INSERT skip an id: an id is in one of the two unless another transaction took its claim back
        (`unclaim_inbox`) in between."""
        if not events:
            return set(), {}
        fresh = await self.claim_inbox_many(consumer_group, events, digests, record_digests)
        others = [event_id for event_id, _ in events if event_id not in fresh]
        return fresh, await self.inbox_digests(consumer_group, others)

    async def inbox_digests(self, consumer_group: str, event_ids: Sequence[UUID], *,
                            whole_record: bool = False) -> dict[UUID, str | None]:
        """The stored digest of each of these ids this group has claimed: of the payload, or with `whole_record`
        of the record (None: claimed before kit tables v2, resp. v3)."""
        if not event_ids:
            return {}
        if self.dialect == "postgresql":
            lookup = _INBOX_DIGESTS["record_sha256" if whole_record else "payload_sha256"]
            rows = await self.session.execute(lookup, {"group": consumer_group, "ids": list(event_ids)})
            return {event_id: digest for event_id, digest in rows.all()}
        column = inbox.c.record_sha256 if whole_record else inbox.c.payload_sha256
        stmt = select(inbox.c.event_id, column).where(
            inbox.c.consumer_group == consumer_group, one_of(inbox.c.event_id, list(event_ids), self.dialect))
        return {event_id: digest for event_id, digest in (await self.session.execute(stmt)).all()}

    async def inbox_record_digests(self, consumer_group: str, event_ids: Sequence[str]) -> dict[str, str | None]:
        """`inbox_digests(..., whole_record=True)` keyed by the ids as text (`header_event_id_text`): the replay
        path's one read per batch, with no uuid objects made either way. On PostgreSQL a plain statement (the ids
        cast to uuid[] by the server); elsewhere through `inbox_digests`."""
        if not event_ids:
            return {}
        if self.dialect != "postgresql":
            found = await self.inbox_digests(consumer_group, [UUID(i) for i in event_ids], whole_record=True)
            return {str(event_id): digest for event_id, digest in found.items()}
        rows = await self.session.execute(_INBOX_RECORD_DIGESTS, {"group": consumer_group, "ids": list(event_ids)})
        return {event_id: digest for event_id, digest in rows.all()}

    async def unclaim_inbox(self, consumer_group: str, event_ids: Sequence[UUID]) -> None:
        """Takes back claims made in this transaction (events found unhandleable after claiming them)."""
        if event_ids:
            await self.session.execute(inbox.delete().where(
                inbox.c.consumer_group == consumer_group, one_of(inbox.c.event_id, list(event_ids), self.dialect)))
