"""What a service hands the ops tooling to rebuild one of its projections (libs/ops: `outreach-ops rebuild`,
outreach_ops.rebuild and outreach_ops.switchover): `RebuildSpec`, the `(table_name) -> RebuildSpec` factory
type, and `fresh_table`, the live table's copy the rebuild writes into. Kept in the kit so that a service's
`ops` module imports only the kit; the tooling imports it by name (`writeback.ops:rebuild_spec`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import quoted_name

from servicekit.messaging.events import Decoded
from servicekit.messaging.kafka_admin import OpsError

RecordHandler = Callable[[Decoded, AsyncConnection], Awaitable[None]]
Prepare = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True)
class RebuildSpec:
    """What a service hands the CLI: registry topic names (unprefixed), the handler writing into the fresh
    table, `prepare` creating it, and the engine of the service's database.

    `flush` runs after each batch's records went through `handler`, in the batch's transaction (a handler may
    stage records there and write them set-wise, as a batching live consumer does). `sequential` reads the
    topics one after the other, in the order given, instead of together.

    For `rebuild-compare` and `rebuild-swap`: `live_table` is the table the rebuilt one replaces;
    `not_derived` its columns no topic carries (times a row was written, state the service keeps itself),
    which the comparison leaves out; `carry_over` those of them the swap copies from the live rows into the
    rebuilt ones (by primary key), because the service relies on them."""

    topics: Sequence[str]
    handler: RecordHandler
    engine: AsyncEngine
    prepare: Prepare | None = None
    flush: Prepare | None = None
    sequential: bool = False
    live_table: str | None = None
    not_derived: Sequence[str] = ()
    carry_over: Sequence[str] = ()


SpecFactory = Callable[[str], RebuildSpec]


def fresh_table(live: Table, name: str) -> Table:
    """A copy of `live` named `name` in its own MetaData (the rebuild creates it with `create(conn)`). An index
    name holding the live table's name gets `name` there instead (`ix_lead_projection_email` →
    `ix_lead_projection_rebuild_email`), any other is suffixed with `_<name>`; the swap renames them back."""
    if name == live.name:
        raise OpsError(f"the rebuilt table must not be the live table {live.name!r}")
    table = live.to_metadata(MetaData(), name=name)
    for index in table.indexes:
        if index.name is not None:
            index.name = quoted_name(index_away(str(index.name), live.name, name), None)
    return table


def index_away(index: str, table: str, new_table: str) -> str:
    """The name of a table's index once the table is named `new_table`: the table's name replaced, else suffixed."""
    return index.replace(table, new_table, 1) if table in index else f"{index}__{new_table}"


def index_back(index: str, table: str, live: str) -> str:
    """The inverse for a rebuilt table `table` that becomes `live`."""
    if index.endswith(f"__{table}"):
        return index[: -len(table) - 2]
    return index.replace(table, live, 1) if table in index else index
