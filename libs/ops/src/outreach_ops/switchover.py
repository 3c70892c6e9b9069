"""The fresh table of a rebuild, its comparison with the live one, and the swap that makes it the live one.

- `fresh_table(live, name)` (in `servicekit.messaging.rebuild_spec`, so a service's spec needs only the kit): the
  live ORM table's columns, types, primary key and indexes under a new name (each index name with the live
  table's name replaced by the new one, so the two tables' indexes never clash);
- `compare_tables(engine, live, fresh, ignore=...)`: row by row, by primary key, in the database: rows only in
  one of the tables, rows that differ and how many differ in each column;
- `swap_tables(engine, live, fresh, carry_over=...)`: in ONE transaction, copies the `carry_over` columns from
  the live rows into the rebuilt ones (by primary key), renames live → `<live>_old` (or `keep_as`) and
  fresh → live, and renames their indexes the same way (the rebuilt table's indexes get the live names the
  service's migrations know). PostgreSQL takes an exclusive lock on both tables for the transaction; a consumer
  writing meanwhile waits and then writes into the swapped table. Stop the consumers first anyway: records they
  apply between a rebuild and the swap are not in the rebuilt table (docs/KUBERNETES-RUNBOOK.md).

Every refusal is an `OpsError` with the reason (the CLI prints it and exits with 2); nothing is changed then.
PostgreSQL and SQLite (index names are unique per schema in both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    MetaData,
    Table,
    and_,
    case,
    exists,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from servicekit.messaging.kafka_admin import OpsError
from servicekit.messaging.rebuild_spec import index_away, index_back


@dataclass
class Comparison:
    live: str
    fresh: str
    key: list[str]
    compared: list[str]
    ignored: list[str]
    live_rows: int = 0
    fresh_rows: int = 0
    only_live: int = 0
    only_fresh: int = 0
    differing: int = 0
    by_column: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # keys of some rows that differ or are in one table only

    @property
    def equal(self) -> bool:
        return self.only_live == 0 and self.only_fresh == 0 and self.differing == 0


def _reflect(conn: Connection, name: str) -> Table:
    if not inspect(conn).has_table(name):
        raise OpsError(f"table {name!r} does not exist")
    return Table(name, MetaData(), autoload_with=conn)


def _same_shape(conn: Connection, live: Table, fresh: Table) -> None:
    """The tables have the same columns (names, types, nullability) and the same primary key."""
    def shape(table: Table) -> dict[str, tuple[str, bool]]:
        return {c.name: (str(c.type.compile(conn.dialect)), bool(c.nullable)) for c in table.columns}

    mine, theirs = shape(live), shape(fresh)
    if mine != theirs:
        missing = sorted(set(mine) - set(theirs))
        extra = sorted(set(theirs) - set(mine))
        changed = sorted(c for c in set(mine) & set(theirs) if mine[c] != theirs[c])
        raise OpsError(f"{fresh.name!r} does not have the columns of {live.name!r} (missing {missing}, extra {extra}, "
                       f"different type or nullability {changed}); rebuild it with the service's spec")
    if [c.name for c in live.primary_key.columns] != [c.name for c in fresh.primary_key.columns]:
        raise OpsError(f"{fresh.name!r} and {live.name!r} have different primary keys")
    if not live.primary_key.columns:
        raise OpsError(f"{live.name!r} has no primary key to match rows by")


def _check_columns(live: Table, names: Sequence[str], what: str) -> None:
    unknown = sorted(set(names) - set(live.c.keys()))
    if unknown:
        raise OpsError(f"{what} names columns {live.name!r} does not have: {unknown}")


async def compare_tables(engine: AsyncEngine, live: str, fresh: str, *, ignore: Sequence[str] = (),
                         samples: int = 10) -> Comparison:
    """Compares `fresh` with `live` row by row (matched by the primary key) on every column but `ignore`."""
    if live == fresh:
        raise OpsError("compare a rebuilt table with the live one, not with itself")
    async with engine.connect() as conn:
        return await conn.run_sync(_compare, live, fresh, list(ignore), samples)


def _compare(conn: Connection, live_name: str, fresh_name: str, ignore: list[str], samples: int) -> Comparison:
    live, fresh = _reflect(conn, live_name), _reflect(conn, fresh_name)
    _same_shape(conn, live, fresh)
    _check_columns(live, ignore, "ignore")
    key = [c.name for c in live.primary_key.columns]
    columns = [c.name for c in live.columns if c.name not in key and c.name not in ignore]
    result = Comparison(live=live_name, fresh=fresh_name, key=key, compared=columns, ignored=sorted(ignore))
    matched = and_(*(live.c[k] == fresh.c[k] for k in key))
    result.live_rows = int(conn.execute(select(func.count()).select_from(live)).scalar_one())
    result.fresh_rows = int(conn.execute(select(func.count()).select_from(fresh)).scalar_one())
    in_fresh = exists(select(literal(1)).select_from(fresh).where(matched))
    in_live = exists(select(literal(1)).select_from(live).where(matched))
    result.only_live = int(conn.execute(select(func.count()).select_from(live).where(~in_fresh)).scalar_one())
    result.only_fresh = int(conn.execute(select(func.count()).select_from(fresh).where(~in_live)).scalar_one())
    differs = {c: live.c[c].is_distinct_from(fresh.c[c]) for c in columns}
    if differs:
        # One pass over the join: the rows that differ and, per column, how many differ in it.
        counts = conn.execute(
            select(func.count(), *(func.coalesce(func.sum(case((d, 1), else_=0)), 0) for d in differs.values()))
            .select_from(live.join(fresh, matched)).where(or_(*differs.values()))
        ).one()
        result.differing = int(counts[0])
        result.by_column = {c: int(n) for c, n in zip(differs, counts[1:], strict=True) if int(n)}
        rows = conn.execute(select(*(live.c[k] for k in key)).select_from(live.join(fresh, matched))
                            .where(or_(*differs.values())).order_by(*(live.c[k] for k in key)).limit(samples)).all()
        result.samples += [_key(r) for r in rows]
    for table, other, label in ((live, in_fresh, "only live"), (fresh, in_live, "only rebuilt")):
        if len(result.samples) < samples:
            rows = conn.execute(select(*(table.c[k] for k in key)).where(~other)
                                .order_by(*(table.c[k] for k in key)).limit(samples - len(result.samples))).all()
            result.samples += [f"{_key(r)} ({label})" for r in rows]
    return result


def _key(row: Any) -> str:
    return ",".join(str(v) for v in row)


@dataclass(frozen=True)
class SwapResult:
    live: str
    fresh: str
    old: str
    rows: int
    carried_over: int
    indexes: dict[str, str]  # old name → new name


async def swap_tables(engine: AsyncEngine, live: str, fresh: str, *, carry_over: Sequence[str] = (),
                      keep_as: str | None = None, allow_empty: bool = False) -> SwapResult:
    """Makes `fresh` the live table in one transaction; the former live table stays as `keep_as`
    (default `<live>_old`). Refused when a table is missing, `keep_as` exists, the columns differ, or the
    rebuilt table is empty while the live one is not (unless `allow_empty`)."""
    old = keep_as or f"{live}_old"
    if len({live, fresh, old}) != 3:
        raise OpsError(f"live {live!r}, rebuilt {fresh!r} and old {old!r} must be three different names")
    async with engine.begin() as conn:
        return await _swap(conn, live, fresh, old, list(carry_over), allow_empty)


async def _swap(conn: AsyncConnection, live: str, fresh: str, old: str, carry_over: list[str],
                allow_empty: bool) -> SwapResult:
    postgres = conn.dialect.name == "postgresql"
    if not postgres:
        # pysqlite opens a transaction only before DML: a savepoint opens it now, so the DDL below is atomic too.
        await conn.exec_driver_sql("SAVEPOINT rebuild_swap")
    if await conn.run_sync(lambda c: inspect(c).has_table(old)):
        raise OpsError(f"table {old!r} exists (the previous swap's): drop it or choose --keep-as")
    live_t = await conn.run_sync(_reflect, live)
    fresh_t = await conn.run_sync(_reflect, fresh)
    await conn.run_sync(_same_shape, live_t, fresh_t)
    _check_columns(live_t, carry_over, "carry_over")
    q = conn.dialect.identifier_preparer.quote
    if postgres:  # both tables, until commit: no consumer writes between the copy and the renames
        await conn.execute(text(f"LOCK TABLE {q(live)}, {q(fresh)} IN ACCESS EXCLUSIVE MODE"))
    rows = int((await conn.execute(select(func.count()).select_from(fresh_t))).scalar_one())
    if rows == 0 and not allow_empty:
        live_rows = int((await conn.execute(select(func.count()).select_from(live_t))).scalar_one())
        if live_rows:
            raise OpsError(f"{fresh!r} is empty and {live!r} has {live_rows} row(s): was the rebuild run? "
                           "(--allow-empty swaps anyway)")
    carried = 0
    if carry_over:
        key = [c.name for c in live_t.primary_key.columns]
        result = await conn.execute(
            update(fresh_t).where(*(fresh_t.c[k] == live_t.c[k] for k in key))
            .values({c: live_t.c[c] for c in carry_over}))
        carried = int(result.rowcount or 0)
    renamed: dict[str, str] = {}
    for source, target, rename in ((live, old, index_away), (fresh, live, index_back)):
        for name, sql in await _indexes(conn, source):
            new = rename(name, source, target)
            if new == name:
                continue
            if postgres:  # renames the constraint of a primary key or unique index too
                await conn.execute(text(f"ALTER INDEX {q(name)} RENAME TO {q(new)}"))
            else:
                await conn.execute(text(f"DROP INDEX {q(name)}"))
                await conn.execute(text(_sqlite_index_sql(sql, name, new, q)))
            renamed[name] = new
        await conn.execute(text(f"ALTER TABLE {q(source)} RENAME TO {q(target)}"))
    return SwapResult(live=live, fresh=fresh, old=old, rows=rows, carried_over=carried, indexes=renamed)


async def _indexes(conn: AsyncConnection, table: str) -> list[tuple[str, str]]:
    """(name, creating SQL or "") of the table's indexes, constraint-backing ones included on PostgreSQL; SQLite's
    automatic indexes (of a primary key or unique constraint) have no SQL and keep their names."""
    if conn.dialect.name == "postgresql":
        rows = await conn.execute(text(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = CAST(:t AS regclass) ORDER BY i.relname"), {"t": conn.dialect.identifier_preparer.quote(table)})
        return [(str(r[0]), "") for r in rows]
    rows = await conn.execute(text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL ORDER BY name"),
        {"t": table})
    return [(str(r[0]), str(r[1])) for r in rows]


def _sqlite_index_sql(sql: str, name: str, new: str, quote: Any) -> str:
    """SQLite's stored `CREATE [UNIQUE] INDEX [IF NOT EXISTS] <name> ON ...` with the index named `new`."""
    head, sep, rest = sql.partition(" ON ")
    if not sep:
        raise OpsError(f"cannot rename SQLite index {name!r}: unexpected SQL {sql!r}")
    for written in (f'"{name}"', f"`{name}`", f"[{name}]", name):
        if head.endswith(written):
            return f"{head[: -len(written)]}{quote(new)}{sep}{rest}"
    raise OpsError(f"cannot rename SQLite index {name!r}: unexpected SQL {sql!r}")


async def check_target(engine: AsyncEngine, table: str, *, live: str | None, replace: bool) -> bool:
    """Before a rebuild into `table`: refused when it is the live table, or exists (unless `replace`, which drops
    it). True when an existing table was dropped."""
    if live is not None and table in (live, f"{live}_old"):
        raise OpsError(f"refusing to rebuild into {table!r}: that is the live table or the previous swap's; "
                       "name a fresh table")
    async with engine.begin() as conn:
        if not await conn.run_sync(lambda c: inspect(c).has_table(table)):
            return False
        if not replace:
            raise OpsError(f"table {table!r} exists (an earlier rebuild?): --replace drops it first, "
                           "or name another table")
        await conn.execute(text(f"DROP TABLE {conn.dialect.identifier_preparer.quote(table)}"))
        return True
