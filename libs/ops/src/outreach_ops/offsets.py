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

from servicekit.messaging.kafka_admin import (
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
from servicekit.messaging.kafka_config import KafkaSecurity


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
    start: str  # where the reset goes: "earliest", "latest", the ISO timestamp, "shift by -5", ...
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


@dataclass(frozen=True)
class ResetTo:
    """Where a reset moves a group, as Kafka's `kafka-consumer-groups --reset-offsets` names it:
    `earliest`, `latest`, `datetime` (`moment`), `shift` (`amount` from the committed offset, or from the end
    where the group never committed), `offset` (`amount` on every partition) or `file` (`offsets` per partition,
    from an export or a `topic,partition,offset` CSV). Every target is kept within the partition's retained range."""

    kind: str
    moment: datetime | None = None
    amount: int = 0
    offsets: dict[int, int] = field(default_factory=dict)

    KINDS = ("earliest", "latest", "datetime", "shift", "offset", "file")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise OpsError(f"unknown reset target {self.kind!r}")
        if self.kind == "datetime" and self.moment is None:
            raise OpsError("a datetime reset needs the time")

    def describe(self) -> str:
        return {"earliest": "earliest", "latest": "latest",
                "datetime": self.moment.isoformat() if self.moment else "",
                "shift": f"shift by {self.amount:+d}", "offset": f"offset {self.amount}",
                "file": "offsets from a file"}[self.kind]


async def plan_replay(bootstrap: str, *, topic: str, group: str, from_timestamp: datetime | None = None,
                      security: KafkaSecurity | None = None, to: ResetTo | None = None) -> ReplayPlan:
    """Old → new offset per partition: `to`, else the timestamp, else earliest. Refuses a group with live members."""
    target = to or (ResetTo("datetime", moment=from_timestamp) if from_timestamp is not None else ResetTo("earliest"))
    async with admin_client(bootstrap, security) as admin, offsets_consumer(bootstrap, security=security) as consumer:
        state = await describe_group(admin, group)
        refuse_if_live(state)
        tps = await topic_partitions(admin, topic)
        old = await committed_offsets(admin, group, tps)
        ends = await end_offsets(consumer, tps)
        firsts = await beginning_offsets(consumer, tps)
        if target.kind == "file":
            unknown = sorted(set(target.offsets) - {tp.partition for tp in tps})
            if unknown:
                raise OpsError(f"the file names partitions {unknown} that {topic!r} does not have")
        new: dict[TopicPartition, int] = {}
        found = (await consumer.offsets_for_times({tp: int(target.moment.timestamp() * 1000) for tp in tps})
                 if target.kind == "datetime" and target.moment is not None else {})
        for tp in tps:
            committed_now = old[tp][0] if tp in old else None
            if target.kind == "earliest":
                wanted = firsts[tp]
            elif target.kind == "latest":
                wanted = ends[tp]
            elif target.kind == "datetime":
                # No record at or after the time: the partition starts at its end (nothing replayed there).
                hit = found.get(tp)
                wanted = int(hit.offset) if hit is not None else ends[tp]
            elif target.kind == "shift":
                wanted = (ends[tp] if committed_now is None else committed_now) + target.amount
            elif target.kind == "offset":
                wanted = target.amount
            else:  # file: a partition the file leaves out keeps its offset (or starts at its end)
                wanted = target.offsets.get(tp.partition, ends[tp] if committed_now is None else committed_now)
            new[tp] = min(max(wanted, firsts[tp]), ends[tp])
    resets = tuple(PartitionReset(tp.partition, old[tp][0] if tp in old else None, new[tp], ends[tp]) for tp in tps)
    return ReplayPlan(bootstrap, group, topic, target.describe(), state.state, resets, security)


def read_offsets_file(path: Path, topic: str) -> dict[int, int]:
    """Offsets to restore: an export of this tool (JSON, its `offsets`) or Kafka's CSV (`topic,partition,offset`
    per line; other topics' lines are ignored)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise OpsError(f"cannot read {path}: {exc.strerror}") from exc
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
            return {int(p): int(o) for p, o in document["offsets"].items() if o is not None}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OpsError(f"{path} is not an offsets export of this tool ({exc})") from exc
    offsets: dict[int, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            name, partition, offset = (part.strip() for part in line.split(","))
            parsed = int(partition), int(offset)
        except ValueError as exc:
            raise OpsError(f"{path}, line {number}: expected topic,partition,offset, got {line.strip()!r}") from exc
        if name == topic:
            offsets[parsed[0]] = parsed[1]
    if not offsets:
        raise OpsError(f"{path} has no offsets for {topic!r}")
    return offsets


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
