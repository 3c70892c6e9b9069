"""Rebuilding a projection: read topics from the beginning into a fresh table, compare it with the live one,
then swap the two (outreach_ops.switchover).

The tooling knows no projection; a service supplies a `RebuildSpec` (servicekit.messaging.rebuild_spec). Two
real ones exist, used by the CLI (`outreach-ops rebuild writeback.ops:rebuild_spec --table
lead_projection_rebuild`, then `rebuild-compare` and `rebuild-swap` with the same arguments;
docs/KUBERNETES-RUNBOOK.md, "Rebuilding a projection"):

- `writeback.ops:rebuild_spec`, writeback's per-lead projection from LeadUpserted, LeadPushed,
  LeadRemovedFromCampaign and AuditCompleted, applied set-wise per batch by the live consumers' own code;
- `unibox.ops:rebuild_spec`, unibox's email→lead projection from LeadUpserted, through the live upsert.

A service exposes a factory `(table_name) -> RebuildSpec` in an importable module; the tooling imports it by
name only, so neither it nor the kit depends on a service. Records of different topics are not ordered relative
to each other, so the handler must be newest-wins per lead (as live consumers already are); `sequential=True` reads
the topics one after the other in the spec's order where a projection's rules need a particular order (see
writeback.ops). Records that do not decode are counted and skipped (live consumers dead-lettered them
already).

In code (the names are writeback's)::

    result = await rebuild_projection(
        settings.kafka_bootstrap_servers, [settings.topic(t) for t in spec.topics], spec.handler, spec.engine,
        prepare=spec.prepare, flush=spec.flush, sequential=spec.sequential,
        group_id="writeback.rebuild-2026-11-28",    # optional: commit the end offsets for a fresh group
    )

`group_id` hands the end position to a fresh consumer group, for a consumer that can start under a new group
and take over from exactly there. Writeback's and unibox's consumers keep their own groups (and the inbox of
event ids those groups applied), so their switch-over stops the consumers first and needs no hand-over (the
runbook explains why).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.messaging.events import Decoded, PoisonMessage, decode_record
from servicekit.messaging.kafka_admin import (
    OpsError,
    admin_client,
    beginning_offsets,
    describe_group,
    end_offsets,
    offsets_consumer,
    read_until,
    topic_partitions,
)
from servicekit.messaging.kafka_config import KafkaSecurity
from servicekit.messaging.rebuild_spec import Prepare, RecordHandler, SpecFactory


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
    flush: Prepare | None = None,
    sequential: bool = False,
    group_id: str | None = None,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    timeout_s: float = 600.0,
    security: KafkaSecurity | None = None,
) -> RebuildResult:
    """Applies every retained record of `topics` (up to their end offsets when the rebuild starts) through
    `handler`, one transaction per batch on `target_engine`, ending with `flush` when given. `prepare` runs
    first (create the fresh table). `sequential` reads the topics one after the other, in the given order.
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
        ends = await end_offsets(consumer, tps)  # every topic's end, taken before anything is read
        phases = [[tp for tp in tps if tp.topic == topic] for topic in topics] if sequential else [tps]
        batch: list[Decoded] = []
        for phase in phases:
            consumer.assign(phase)
            for tp in phase:
                consumer.seek(tp, starts[tp])
            async for record in read_until(consumer, {tp: ends[tp] for tp in phase}, timeout_s=timeout_s,
                                           max_records=batch_size):
                try:
                    batch.append(decode_record(record.value, record.key, record.headers))  # as the consumers
                except PoisonMessage:
                    result.undecodable += 1
                if len(batch) >= batch_size:
                    await _apply(target_engine, handler, flush, batch, result, progress)
                    batch = []
        await _apply(target_engine, handler, flush, batch, result, progress)
    if group_id is not None:
        async with offsets_consumer(bootstrap, group_id=group_id, security=security) as committer:
            committer.assign(tps)
            await committer.commit({tp: OffsetAndMetadata(end, "rebuild") for tp, end in ends.items()})
    result.end_offsets = ends
    return result


async def _apply(engine: AsyncEngine, handler: RecordHandler, flush: Prepare | None, batch: list[Decoded],
                 result: RebuildResult, progress: Callable[[int], None] | None) -> None:
    if not batch:
        return
    async with engine.begin() as conn:
        for item in batch:
            await handler(item, conn)
        if flush is not None:
            await flush(conn)
    result.applied += len(batch)
    if progress is not None:
        progress(len(batch))
