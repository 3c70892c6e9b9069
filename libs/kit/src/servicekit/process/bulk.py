"""Multi-row INSERTs as ONE fixed statement on PostgreSQL: `INSERT … SELECT * FROM unnest($1::t[], …)`.

A consumer batch writes tens to hundreds of inbox, outbox, history… rows per transaction. SQLAlchemy's
`insert().values(rows)` renders (and PostgreSQL parses and plans) a new statement for every row count;
executemany costs a round trip's worth of protocol per row. Here each column travels as one array
parameter, so the SQL text is the same for every batch: compiled once, prepared once per connection,
one round trip. The optional NOTIFY rides in the same statement (a data-modifying CTE), saving the
outbox's wake-up its own round trip.

UPDATEs of many rows work the same way (`unnest_update`: `UPDATE t SET … FROM unnest(…) AS v(…) WHERE
t.key = v.key`), and `flush_changed_rows` writes the changed columns of persistent ORM objects with it
instead of the ORM's UPDATE per row.

`unnest_insert`/`unnest_update` are PostgreSQL only; `bulk_insert`/`bulk_update` pick them there and the
portable executemany elsewhere (SQLite).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table, TextClause, bindparam, inspect, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.type_api import TypeEngine

from servicekit.process.db import json_text

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _array_type(column_type: TypeEngine[Any]) -> str:
    return f"{column_type.compile(dialect=_PG)}[]"


def _is_json(column_type: TypeEngine[Any]) -> bool:
    return isinstance(column_type.dialect_impl(_PG), JSON)


@functools.cache
def _statement(table: Table, columns: tuple[str, ...], conflict: tuple[str, ...] | None,
               returning: str | None, notify: bool) -> TextClause:
    names = ", ".join(f'"{c}"' for c in columns)
    arrays = ", ".join(f"CAST(:c{i} AS {_array_type(table.c[c].type)})" for i, c in enumerate(columns))
    sql = f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({arrays})'
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    if notify:
        # Delivered at commit, once per channel and transaction (PostgreSQL folds identical notifications).
        return text(f"WITH ins AS ({sql} RETURNING 1) SELECT pg_notify(:channel, '') "
                    "WHERE EXISTS (SELECT 1 FROM ins)")
    if returning:
        sql += f' RETURNING "{returning}"'
    return text(sql)


def _value(value: Any, is_json: bool) -> Any:
    if value is None:
        return None
    if is_json:
        return json_text(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)
    return value


def _params(table: Table, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {}
    for i, name in enumerate(columns):
        is_json = _is_json(table.c[name].type)
        params[f"c{i}"] = [_value(row.get(name), is_json) for row in rows]
    return params


async def unnest_insert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    on_conflict_do_nothing: Sequence[str] | None = None,
    returning: str | None = None,
    notify_channel: str | None = None,
) -> list[Any]:
    """Inserts `rows` (dicts with the same keys) in one statement; returns the `returning` column's values
    of the rows actually inserted (conflicts skipped), or [] when nothing is returned.
    With `notify_channel`, NOTIFYs it in the same statement if any row was inserted."""
    if not rows:
        return []
    if returning and notify_channel:
        raise ValueError("returning and notify_channel cannot be combined")
    columns = tuple(rows[0])
    stmt = _statement(table, columns, tuple(on_conflict_do_nothing) if on_conflict_do_nothing else None,
                      returning, notify_channel is not None)
    params: dict[str, Any] = _params(table, columns, rows)
    if notify_channel is not None:
        params["channel"] = notify_channel
    result = await session.execute(stmt, params)
    return list(result.scalars()) if returning else []


def _is_postgres(session: AsyncSession) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


async def bulk_insert(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *,
                      on_conflict_do_nothing: Sequence[str] | None = None) -> None:
    """Inserts `rows` (dicts with the same keys): `unnest_insert` on PostgreSQL, executemany elsewhere.
    With `on_conflict_do_nothing` (the conflict's columns), rows that conflict are skipped."""
    if not rows:
        return
    if _is_postgres(session):
        await unnest_insert(session, table, rows, on_conflict_do_nothing=on_conflict_do_nothing)
        return
    stmt = sqlite.insert(table)
    if on_conflict_do_nothing:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(on_conflict_do_nothing))
    await session.execute(stmt, list(rows))


@functools.cache
def _update_statement(table: Table, key: tuple[str, ...], columns: tuple[str, ...]) -> TextClause:
    names = (*key, *columns)
    arrays = ", ".join(f"CAST(:c{i} AS {_array_type(table.c[c].type)})" for i, c in enumerate(names))
    aliases = ", ".join(f'"{c}"' for c in names)
    sets = ", ".join(f'"{c}" = v."{c}"' for c in columns)
    match = " AND ".join(f't."{c}" = v."{c}"' for c in key)
    return text(f'UPDATE "{table.name}" AS t SET {sets} FROM unnest({arrays}) AS v({aliases}) WHERE {match}')


async def unnest_update(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *,
                        key: Sequence[str]) -> None:
    """Updates existing rows in ONE statement: each row (dicts with the same keys) names its row by the `key`
    columns and gives the new values of the others. A key that matches no row changes nothing; a key given
    twice in one call is an error (PostgreSQL would apply an arbitrary one of the two)."""
    if not rows:
        return
    key_t = tuple(key)
    columns = tuple(name for name in rows[0] if name not in key_t)
    if not columns:
        return
    keys = [tuple(row[k] for k in key_t) for row in rows]
    if len(set(keys)) != len(keys):
        raise ValueError(f"unnest_update: a key of {table.name} appears twice in one call")
    await session.execute(_update_statement(table, key_t, columns), _params(table, (*key_t, *columns), rows))


async def bulk_update(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *,
                      key: Sequence[str]) -> None:
    """Updates existing rows, each given as its `key` columns plus the columns it changes; rows may change
    different columns. One `unnest_update` per set of changed columns on PostgreSQL; an executemany
    `UPDATE … WHERE key = …` per set elsewhere."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for names, group in groups.items():
        columns = [name for name in names if name not in key]
        if not columns:
            continue
        if _is_postgres(session):
            await unnest_update(session, table, group, key=key)
            continue
        stmt = (update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in key))
                .values({name: bindparam(f"v_{name}") for name in columns}))
        params = [{**{f"k_{k}": row[k] for k in key}, **{f"v_{name}": row[name] for name in columns}}
                  for row in group]
        await session.execute(stmt, params, execution_options={"synchronize_session": False})


async def flush_changed_rows(session: AsyncSession, objects: Sequence[object]) -> list[object]:
    """Writes the changed columns of persistent ORM objects with one `unnest_update` per table and set of
    changed columns (PostgreSQL), then takes them out of the session so its own flush skips them. Returns
    the objects written. Call it at commit only: an object taken out of the session no longer tracks later
    changes. Elsewhere (SQLite) it writes nothing and returns [] (the session's flush does the work).

    Same columns as the ORM's flush: those set since the object was loaded (`committed_state`); objects
    with relationships, version counters or server-side onupdate columns must not be given to it."""
    if not objects or not _is_postgres(session):
        return []
    tables: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
    written: list[object] = []
    for obj in objects:
        state = inspect(obj)
        if not state.persistent:
            continue
        mapper: Mapper[Any] = state.mapper
        attrs = mapper.column_attrs
        changed = [(attrs[name].columns[0].name, name) for name in state.committed_state if name in attrs]
        if not changed:
            continue
        table = mapper.local_table
        assert isinstance(table, Table)
        key = tuple(column.name for column in mapper.primary_key)
        row = dict(zip(key, state.identity or (), strict=True))
        row.update((column, getattr(obj, name)) for column, name in changed)
        tables.setdefault((table, key), []).append(row)
        written.append(obj)
    for obj in written:
        session.expunge(obj)
    for (table, key), rows in tables.items():
        await bulk_update(session, table, rows, key=key)
    return written
