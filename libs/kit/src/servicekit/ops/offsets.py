"""Consumer lag, and replay: resetting one group's committed offsets on one topic to earliest or a timestamp.

A replay is only ever applied to an idle group (no live members): it is checked before planning, again right
before committing, and the broker itself rejects a memberless commit while the group has members. The old
offsets are written to a JSON file before anything changes, so a replay can be undone by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from servicekit.kafka_config import KafkaSecurity
from servicekit.ops.kafka import (
    GroupState,
    OpsError,
    admin_client,
    beginning_offsets,
    committed_offsets,
    describe_group,
    end_offsets,
    list_groups,
    offsets_consumer,
    topic_partitions,
)


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


async def consumer_lag(bootstrap: str, groups: Sequence[str] | None = None, *, prefix: str = "",
                       security: KafkaSecurity | None = None) -> list[PartitionLag]:
    """Committed vs end offset for every partition each group has committed on (all groups under `prefix` when
    `groups` is None)."""
    rows: list[PartitionLag] = []
    async with admin_client(bootstrap, security) as admin, offsets_consumer(bootstrap, security=security) as consumer:
        names = list(groups) if groups is not None else await list_groups(admin, prefix)
        for group in names:
            committed = await committed_offsets(admin, group)
            ends = await end_offsets(consumer, sorted(committed))
            rows.extend(PartitionLag(group, tp.topic, tp.partition, committed[tp][0], ends.get(tp, committed[tp][0]))
                        for tp in sorted(committed))
    return rows


@dataclass(frozen=True)
class PartitionReset:
    partition: int
    old: int | None  # None: the group has never committed on this partition
    new: int
    end: int

    @property
    def replayed(self) -> int:
        """Records the group had already consumed and will read again."""
        return max(0, (self.end if self.old is None else min(self.old, self.end)) - self.new)

    @property
    def pending_after(self) -> int:
        return max(0, self.end - self.new)


@dataclass(frozen=True)
class ReplayPlan:
    bootstrap: str
    group: str
    topic: str
    start: str  # "earliest" or the ISO timestamp
    group_state: str
    partitions: tuple[PartitionReset, ...]
    security: KafkaSecurity | None = field(default=None, repr=False, compare=False)

    @property
    def replayed(self) -> int:
        return sum(p.replayed for p in self.partitions)

    def new_offsets(self) -> dict[TopicPartition, int]:
        return {TopicPartition(self.topic, p.partition): p.new for p in self.partitions}


def parse_timestamp(value: str) -> datetime:
    """ISO-8601; a naive time is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise OpsError(f"not an ISO-8601 timestamp: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def plan_replay(bootstrap: str, *, topic: str, group: str, from_timestamp: datetime | None = None,
                      security: KafkaSecurity | None = None) -> ReplayPlan:
    """Old → new offset per partition (earliest when `from_timestamp` is None). Refuses a group with live members."""
    async with admin_client(bootstrap, security) as admin, offsets_consumer(bootstrap, security=security) as consumer:
        state = await describe_group(admin, group)
        refuse_if_live(state)
        tps = await topic_partitions(admin, topic)
        old = await committed_offsets(admin, group, tps)
        ends = await end_offsets(consumer, tps)
        if from_timestamp is None:
            new = await beginning_offsets(consumer, tps)
        else:
            ts_ms = int(from_timestamp.timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: ts_ms for tp in tps})
            # No record at or after the time: the partition starts at its end (nothing replayed there).
            new = {tp: (int(found[tp].offset) if found.get(tp) is not None else ends[tp]) for tp in tps}
    resets = tuple(PartitionReset(tp.partition, old[tp][0] if tp in old else None, new[tp], ends[tp]) for tp in tps)
    start = "earliest" if from_timestamp is None else from_timestamp.isoformat()
    return ReplayPlan(bootstrap, group, topic, start, state.state, resets, security)


def refuse_if_live(state: GroupState) -> None:
    if state.has_live_members:
        raise OpsError(
            f"refusing: consumer group {state.group!r} is {state.state} with {len(state.members)} live member(s) "
            f"({', '.join(state.members) or 'rebalancing'}); stop its consumers first. Offsets were not changed."
        )


def export_offsets(plan: ReplayPlan, path: Path) -> Path:
    """Writes the group's current offsets (what a restore would commit back) before anything changes."""
    document = {
        "group": plan.group,
        "topic": plan.topic,
        "exported_at": datetime.now(UTC).isoformat(),
        "replay_start": plan.start,
        "offsets": {str(p.partition): p.old for p in plan.partitions},
        "plan": [asdict(p) for p in plan.partitions],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)
    return path


async def apply_replay(plan: ReplayPlan) -> dict[int, int]:
    """Commits the plan's new offsets for the idle group; returns the offsets read back from the broker."""
    async with admin_client(plan.bootstrap, plan.security) as admin:
        state = await describe_group(admin, plan.group)
        refuse_if_live(state)
        async with offsets_consumer(plan.bootstrap, group_id=plan.group, security=plan.security) as committer:
            targets = plan.new_offsets()
            committer.assign(sorted(targets))
            try:
                await committer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in targets.items()})
            except KafkaError as exc:  # e.g. a consumer joined between the check and the commit
                raise OpsError(f"the broker refused the offset commit for {plan.group!r} ({exc.__class__.__name__}); "
                               "it probably has live members now. Check the offsets with `lag`.") from exc
        after = await committed_offsets(admin, plan.group, sorted(targets))
    return {tp.partition: offset for tp, (offset, _meta) in after.items()}
