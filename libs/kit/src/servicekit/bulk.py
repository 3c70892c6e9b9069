"""Multi-row INSERTs as ONE fixed statement on PostgreSQL: `INSERT … SELECT * FROM unnest($1::t[], …)`.

A consumer batch writes tens to hundreds of inbox, outbox, history… rows per transaction. SQLAlchemy's
`insert().values(rows)` renders (and PostgreSQL parses and plans) a new statement for every row count;
executemany costs a round trip's worth of protocol per row. Here each column travels as one array
parameter, so the SQL text is the same for every batch: compiled once, prepared once per connection,
one round trip. The optional NOTIFY rides in the same statement (a data-modifying CTE), saving the
outbox's wake-up its own round trip.

`unnest_insert` is PostgreSQL only; `bulk_insert` picks it there and the portable executemany elsewhere
(SQLite).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table, TextClause, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.type_api import TypeEngine

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
        return json.dumps(value)
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


async def bulk_insert(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts `rows` (dicts with the same keys): `unnest_insert` on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        await unnest_insert(session, table, rows)
    else:
        await session.execute(insert(table), list(rows))
