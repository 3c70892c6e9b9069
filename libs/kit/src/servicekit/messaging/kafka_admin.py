"""Thin, typed wrappers over aiokafka's admin client and a group-less consumer: the reads every ops command needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from servicekit.messaging.kafka_config import KafkaSecurity, client_options, resolve, start_client

REQUEST_TIMEOUT_MS = 15000
# Kafka's DescribeConfigs source code for a value set on the topic itself (not a broker default).
CONFIG_SOURCE_TOPIC = 1


class OpsError(Exception):
    """A refusal or a failed precondition; the CLI prints the message and exits non-zero."""


@asynccontextmanager
async def admin_client(bootstrap: str, security: KafkaSecurity | None = None) -> AsyncIterator[AIOKafkaAdminClient]:
    """`security` None: from the `KAFKA_*` variables (the CLI passes its --command-config)."""
    sec = resolve(security)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="outreach-ops",
                                request_timeout_ms=REQUEST_TIMEOUT_MS, **client_options(sec))
    try:
        await start_client(lambda: asyncio.wait_for(admin.start(), REQUEST_TIMEOUT_MS / 1000), bootstrap, sec,
                           what="outreach-ops admin client")
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def offsets_consumer(bootstrap: str, group_id: str | None = None, *,
                           security: KafkaSecurity | None = None) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer that never subscribes (so never joins a group): for offset look-ups, reads by assignment and
    commits on behalf of an idle group (the broker refuses those commits while the group has members)."""
    sec = resolve(security)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, client_id="outreach-ops",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                request_timeout_ms=REQUEST_TIMEOUT_MS, **client_options(sec))
    try:
        await start_client(lambda: asyncio.wait_for(consumer.start(), REQUEST_TIMEOUT_MS / 1000), bootstrap, sec,
                           what="outreach-ops consumer")
        yield consumer
    finally:
        await consumer.stop()


def prefixed(name: str, prefix: str) -> str:
    """Registry names get the deployment's prefix; a name that already carries it is left alone."""
    return name if not prefix or name.startswith(prefix) else f"{prefix}{name}"


async def list_topics(admin: AIOKafkaAdminClient) -> list[str]:
    return sorted(t for t in await admin.list_topics() if not t.startswith("__"))


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


async def describe_partitions(admin: AIOKafkaAdminClient, topic: str) -> list[PartitionInfo]:
    """The topic's partitions; OpsError when the topic does not exist."""
    for item in await admin.describe_topics([topic]):
        if item.get("topic") != topic:
            continue
        if item.get("error_code") or not item.get("partitions"):
            raise OpsError(f"topic {topic!r} does not exist (error code {item.get('error_code')})")
        return sorted(
            (PartitionInfo(int(p["partition"]), int(p["leader"]), tuple(p["replicas"]), tuple(p["isr"]))
             for p in item["partitions"]),
            key=lambda p: p.partition,
        )
    raise OpsError(f"topic {topic!r} does not exist")


async def topic_partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p.partition) for p in await describe_partitions(admin, topic)]


async def topic_configs(admin: AIOKafkaAdminClient, topic: str, *, include_defaults: bool = False) -> dict[str, str]:
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    out: dict[str, str] = {}
    for response in responses:
        for resource in response.to_object().get("resources", []):
            for entry in resource.get("config_entries", []):
                if include_defaults or entry.get("config_source") == CONFIG_SOURCE_TOPIC:
                    out[str(entry["config_names"])] = str(entry["config_value"])
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str
    members: tuple[str, ...]

    @property
    def has_live_members(self) -> bool:
        return bool(self.members) or self.state in {"Stable", "PreparingRebalance", "CompletingRebalance"}


async def describe_group(admin: AIOKafkaAdminClient, group: str) -> GroupState:
    responses: list[Any] = await admin.describe_consumer_groups([group])
    for response in responses:
        for item in response.to_object().get("groups", []):
            if item.get("group") == group:
                members = tuple(f"{m.get('client_id')}@{m.get('client_host')}" for m in item.get("members", []))
                return GroupState(group=group, state=str(item.get("state", "")), members=members)
    return GroupState(group=group, state="Dead", members=())


async def committed_offsets(
    admin: AIOKafkaAdminClient, group: str, partitions: Iterable[TopicPartition] | None = None
) -> dict[TopicPartition, tuple[int, str]]:
    """(offset, metadata) per partition the group has committed; partitions without a commit are absent."""
    wanted = list(partitions) if partitions is not None else None
    raw = await admin.list_consumer_group_offsets(group, partitions=wanted or None)
    return {tp: (int(om.offset), str(om.metadata or "")) for tp, om in raw.items()
            if om.offset is not None and om.offset >= 0 and (wanted is None or tp in wanted)}


async def list_groups(admin: AIOKafkaAdminClient, prefix: str = "") -> list[str]:
    return sorted(str(g[0]) for g in await admin.list_consumer_groups() if str(g[0]).startswith(prefix))


async def end_offsets(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    return {tp: int(o) for tp, o in (await consumer.end_offsets(partitions)).items()}


async def beginning_offsets(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    return {tp: int(o) for tp, o in (await consumer.beginning_offsets(partitions)).items()}


async def read_until(
    consumer: Any, ends: dict[TopicPartition, int], *, timeout_s: float, max_records: int = 200
) -> AsyncGenerator[ConsumerRecord[Any, Any], None]:
    """Yields records of the assigned partitions up to the `ends` snapshot (later arrivals are left alone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    while remaining:
        if loop.time() > deadline:
            raise OpsError(f"timed out after {timeout_s}s reading {sorted(t.topic for t in remaining)}")
        batch = await consumer.getmany(*remaining, timeout_ms=200, max_records=max_records)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
