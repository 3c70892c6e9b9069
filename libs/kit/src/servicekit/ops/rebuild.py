"""Rebuilding a projection: read topics from the beginning into a fresh table, then (optionally) hand the end
position to a fresh consumer group so the live consumer can take over from exactly there.

The kit knows no projection; a service supplies the handler. For example, writeback rebuilding its per-lead
projection into `lead_projection_rebuild` (sketch; the names are writeback's)::

    from servicekit.ops.rebuild import rebuild_projection

    async def apply(item: Decoded, conn: AsyncConnection) -> None:
        await upsert_projection(conn, item, table=lead_projection_rebuild)  # the same newest-wins upsert

    result = await rebuild_projection(
        settings.kafka_bootstrap_servers,
        [settings.topic(t) for t in (LEAD_UPSERTED, AUDIT_COMPLETED, LEAD_PUSHED, LEAD_REMOVED_FROM_CAMPAIGN)],
        apply,
        runtime.engine,
        prepare=create_fresh_table,                 # CREATE TABLE lead_projection_rebuild (...)
        group_id="writeback.rebuild-2026-11-28",    # optional: commit the end offsets for a fresh group
    )

then compare the fresh table with the live one and swap (rename) when equal.

For the CLI (`outreach-ops rebuild writeback.ops:rebuild_spec --table lead_projection_rebuild`), a service
exposes a factory `(table_name) -> RebuildSpec` in an importable module; the kit imports it by name only, so
no kit module depends on a service. Records of different topics are
not ordered relative to each other, so the handler must be newest-wins per lead (as live consumers already are);
records that do not decode are counted and skipped (live consumers dead-lettered them already).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from servicekit.events import Decoded, PoisonMessage, decode
from servicekit.kafka_config import KafkaSecurity
from servicekit.ops.kafka import (
    OpsError,
    admin_client,
    beginning_offsets,
    describe_group,
    end_offsets,
    offsets_consumer,
    read_until,
    topic_partitions,
)

RecordHandler = Callable[[Decoded, AsyncConnection], Awaitable[None]]
Prepare = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True)
class RebuildSpec:
    """What a service hands the CLI: registry topic names (unprefixed), the handler writing into the fresh
    table, `prepare` creating it, and the engine of the service's database."""

    topics: Sequence[str]
    handler: RecordHandler
    engine: AsyncEngine
    prepare: Prepare | None = None


SpecFactory = Callable[[str], RebuildSpec]


def load_spec_factory(reference: str) -> SpecFactory:
    """`package.module:attribute` → the service's `(table_name) -> RebuildSpec` factory."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise OpsError(f"expected MODULE:FACTORY, got {reference!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise OpsError(f"cannot load rebuild spec {reference!r}: {exc}") from exc
    if not callable(factory):
        raise OpsError(f"{reference!r} is not callable")
    return factory  # type: ignore[no-any-return]


@dataclass
class RebuildResult:
    applied: int = 0
    undecodable: int = 0
    end_offsets: dict[TopicPartition, int] | None = None


async def rebuild_projection(
    bootstrap: str,
    topics: Sequence[str],
    handler: RecordHandler,
    target_engine: AsyncEngine,
    *,
    prepare: Prepare | None = None,
    group_id: str | None = None,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    timeout_s: float = 600.0,
    security: KafkaSecurity | None = None,
) -> RebuildResult:
    """Applies every retained record of `topics` (up to their end offsets when the rebuild starts) through
    `handler`, one transaction per batch on `target_engine`. `prepare` runs first (create the fresh table).
    With `group_id` (which must be new or idle) the end offsets are committed for that group at the end."""
    result = RebuildResult()
    if prepare is not None:
        async with target_engine.begin() as conn:
            await prepare(conn)
    async with admin_client(bootstrap, security) as admin:
        if group_id is not None and (await describe_group(admin, group_id)).has_live_members:
            raise OpsError(f"refusing: group {group_id!r} has live members; use a fresh group for a rebuild")
        tps = [tp for topic in topics for tp in await topic_partitions(admin, topic)]
    async with offsets_consumer(bootstrap, security=security) as consumer:
        starts = await beginning_offsets(consumer, tps)
        ends = await end_offsets(consumer, tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        batch: list[Decoded] = []
        async for record in read_until(consumer, ends, timeout_s=timeout_s, max_records=batch_size):
            try:
                batch.append(decode(record.value))
            except PoisonMessage:
                result.undecodable += 1
            if len(batch) >= batch_size:
                await _apply(target_engine, handler, batch, result, progress)
                batch = []
        await _apply(target_engine, handler, batch, result, progress)
    if group_id is not None:
        async with offsets_consumer(bootstrap, group_id=group_id, security=security) as committer:
            committer.assign(tps)
            await committer.commit({tp: OffsetAndMetadata(end, "rebuild") for tp, end in ends.items()})
    result.end_offsets = ends
    return result


async def _apply(engine: AsyncEngine, handler: RecordHandler, batch: list[Decoded], result: RebuildResult,
                 progress: Callable[[int], None] | None) -> None:
    if not batch:
        return
    async with engine.begin() as conn:
        for item in batch:
            await handler(item, conn)
    result.applied += len(batch)
    if progress is not None:
        progress(len(batch))
