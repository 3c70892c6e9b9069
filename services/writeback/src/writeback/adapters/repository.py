"""Set-based access to the projection and the attempts: one statement per batch, not per record; the stored
PlusVibe credentials."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Select, Table, bindparam, literal, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.process.bulk import bulk_insert, bulk_update
from servicekit.process.db import one_of
from writeback.adapters.orm import lead_projection, writeback_attempts
from writeback.domain import attempts as st
from writeback.domain.projection import LeadState

_STATE_FIELDS = tuple(f.name for f in fields(LeadState))
# The audit profile (~1 KB of JSON per lead): read only for a batch that may write copy back (`with_profile`).
_PROFILE = "profile"
_WITHOUT_PROFILE = tuple(name for name in _STATE_FIELDS if name != _PROFILE)
_MISSING = object()


class WritebackRepository:
    def __init__(self, session: AsyncSession, *, projection: Table = lead_projection) -> None:
        """`projection`: the live `lead_projection`, or a table of its shape being rebuilt (writeback.ops)."""
        self.session = session
        self.table = projection
        # The projection rows as `lock_states` read them: `save_states` writes only the columns that changed, and
        # never the profile of a row read without it.
        self._loaded: dict[UUID, dict[str, Any]] = {}

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def lock_states(self, workspaces: Mapping[UUID, str], now: datetime,
                          times: Mapping[UUID, datetime] | None = None, *,
                          with_profile: bool = True) -> dict[UUID, LeadState]:
        """The projection rows of these leads (`workspaces`: each lead id with the workspace of its first event),
        created in that workspace when missing and locked until commit (sorted, so two batches lock in the same
        order); an existing row keeps its workspace. A created row's `updated_at` is `now`, or its lead's time in
        `times`.

        `with_profile=False`: the audit profile is not read (the states hold None) and `save_states` never writes
        it for these leads; for a batch whose events cannot touch it (snapshots, pushes, removals). It is the
        largest value of the row, parsed from JSON for every lead a batch locks."""
        ids = sorted(set(workspaces), key=str)
        if not ids:
            return {}
        # Lock first, create only what is missing: a lead's first event makes its row (three statements), every
        # later one costs one statement instead of two. At a fixed rate of 50 leads/s a batch holds a record or
        # two, so writeback's ~3 batches per lead each saved a round trip.
        columns = _STATE_FIELDS if with_profile else _WITHOUT_PROFILE
        rows = list(await self._lock_rows(ids, columns))
        missing = sorted(set(ids) - {row["lead_id"] for row in rows}, key=str)
        if missing:
            fresh = [{"lead_id": i, "workspace": workspaces[i], "snapshot_version": 0, "deleted": False,
                      "updated_at": times.get(i, now) if times else now} for i in missing]
            await bulk_insert(self.session, self.table, fresh, on_conflict_do_nothing=["lead_id"])
            rows.extend(await self._lock_rows(missing, columns))
        states: dict[UUID, LeadState] = {}
        for row in rows:
            values = dict(row)
            lead_id = row["lead_id"]
            states[lead_id] = LeadState(**values)
            if with_profile:
                values[_PROFILE] = dict(values[_PROFILE]) if values[_PROFILE] is not None else None
            self._loaded[lead_id] = values
        return states

    async def _lock_rows(self, ids: list[UUID], columns: Sequence[str]) -> Sequence[RowMapping]:
        t = self.table
        query = (select(*(t.c[name] for name in columns))
                 .where(one_of(t.c.lead_id, ids, self._dialect)).order_by(t.c.lead_id).with_for_update())
        return (await self.session.execute(query)).mappings().all()

    async def save_states(self, states: Iterable[LeadState], now: datetime,
                          times: Mapping[UUID, datetime] | None = None) -> None:
        """Writes the columns that changed since `lock_states` read the rows (it created or locked every one
        in this transaction). A LeadUpserted changes a few contact columns, so the ~1 KB audit profile is not
        written back on every snapshot. `updated_at` is `now`, or the lead's time in `times`."""
        rows = []
        for state in states:
            loaded = self._loaded.get(state.lead_id, {})
            names = _STATE_FIELDS
            if loaded and _PROFILE not in loaded:  # read without its profile
                if state.profile is not None:
                    raise RuntimeError(f"the profile of lead {state.lead_id} was set in a batch that did not read it")
                names = _WITHOUT_PROFILE
            changed = {name: value for name in names
                       if (value := getattr(state, name)) != loaded.get(name, _MISSING)}
            if changed:
                at = times.get(state.lead_id, now) if times else now
                rows.append({"lead_id": state.lead_id, **changed, "updated_at": at})
        await bulk_update(self.session, self.table, rows, key=["lead_id"])

    async def attempt_heads(self, attempt_ids: Iterable[UUID]) -> dict[UUID, tuple[str, str]]:
        """(status, dedupe_key) of the given attempts."""
        ids = list(set(attempt_ids))
        if not ids:
            return {}
        t = writeback_attempts
        rows = (await self.session.execute(select(t.c.id, t.c.status, t.c.dedupe_key).where(one_of(t.c.id, ids, self._dialect)))).all()
        return {row.id: (row.status, row.dedupe_key) for row in rows}

    async def known_requests(self, request_ids: Iterable[UUID]) -> set[UUID]:
        ids = list(set(request_ids))
        if not ids:
            return set()
        t = writeback_attempts
        rows = (await self.session.execute(select(t.c.request_id).where(one_of(t.c.request_id, ids, self._dialect)))).all()
        return {row.request_id for row in rows}

    async def insert_attempts(self, rows: Sequence[dict[str, Any]]) -> None:
        await bulk_insert(self.session, writeback_attempts, rows)

    async def supersede(self, attempt_ids: Iterable[UUID], now: datetime) -> None:
        ids = list(set(attempt_ids))
        if ids:
            t = writeback_attempts
            await self.session.execute(
                update(t).where(one_of(t.c.id, ids, self._dialect), t.c.status == st.PENDING).values(status=st.SUPERSEDED, updated_at=now)
            )

    async def projection(self, lead_id: UUID, workspace: str) -> Mapping[str, Any] | None:
        """The lead's projection row, None when writeback has none in `workspace`."""
        query = select(self.table).where(self.table.c.lead_id == lead_id, self.table.c.workspace == workspace)
        row = (await self.session.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def last_attempt(self, lead_id: UUID, workspace: str) -> Mapping[str, Any] | None:
        """The lead's newest attempt made in `workspace`."""
        t = writeback_attempts
        query = (select(t).where(t.c.lead_id == lead_id, t.c.workspace == workspace)
                 .order_by(t.c.created_at.desc()).limit(1))
        row = (await self.session.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def lease_due_attempt(self, now: datetime, *, lease_s: float) -> RowMapping | None:
        """The pending attempt due soonest, leased for `lease_s` (its try counted, marked maybe applied until its
        outcome is recorded); None when nothing is due. Never a second attempt of a lead whose older call is in
        flight: PlusVibe always ends with the newest payload. Rows locked by another sender are skipped."""
        a = writeback_attempts
        row: RowMapping | None = (await self.session.execute(DUE_ATTEMPT, {"now": now})).mappings().first()
        if row is None:
            return None
        await self.session.execute(update(a).where(a.c.id == row["id"]).values(
            lease_until=now + timedelta(seconds=lease_s), attempts=a.c.attempts + 1,
            first_try_at=row["first_try_at"] or now, updated_at=now, maybe_applied=True))
        return row

    async def lock_attempt_status(self, attempt_id: UUID) -> str:
        t = writeback_attempts
        status: str = (await self.session.execute(
            select(t.c.status).where(t.c.id == attempt_id).with_for_update())).scalar_one()
        return status

    async def update_attempt(self, attempt_id: UUID, values: Mapping[str, Any]) -> None:
        t = writeback_attempts
        await self.session.execute(update(t).where(t.c.id == attempt_id).values(**values))


def _due_attempt_query() -> Select[Any]:
    """The delivery worker's poll: the pending attempt due soonest whose lead has no other call in flight, as of the
    bound parameter `now`.

    Built once (`DUE_ATTEMPT`): every delivery loop polls four times a second even when nothing is due, and building
    the statement with its alias on each poll was a quarter of writeback's CPU at 2 leads/s (py-spy).

    `status = 'pending'` is written into the SQL, not bound: the partial index `ix_writeback_attempts_due` (pending
    rows only) can serve a plan only when the statement itself says `'pending'`. With the status as a parameter,
    PostgreSQL's generic plan for the prepared statement (asyncpg prepares every statement; the plan cache turns
    generic after five runs, here while the table was still small) could not use the index and scanned every
    attempt on every poll: 7 ms at 10,000 attempts in the pipeline benchmark, growing with the table."""
    a = writeback_attempts
    other = writeback_attempts.alias("other")
    now = bindparam("now", type_=a.c.next_try_at.type)
    in_flight = (select(other.c.id)
                 .where(other.c.lead_id == a.c.lead_id, other.c.id != a.c.id, other.c.lease_until > now)
                 .exists())
    return (select(a)
            .where(a.c.status == literal(st.PENDING, literal_execute=True), a.c.next_try_at <= now,
                   or_(a.c.lease_until.is_(None), a.c.lease_until < now), ~in_flight)
            .order_by(a.c.next_try_at).limit(1).with_for_update(skip_locked=True, of=a))


DUE_ATTEMPT = _due_attempt_query()
