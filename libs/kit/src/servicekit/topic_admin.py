"""Creates the topics of the registry (and their DLQs) with their partitions and retention; idempotent.

    python -m servicekit.topic_admin [--bootstrap HOST:PORT] [--prefix P]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts.topics import ALL_TOPICS, TopicSpec


def new_topics(specs: Iterable[TopicSpec], *, prefix: str = "", include_dlq: bool = True) -> list[NewTopic]:
    topics: list[NewTopic] = []
    for spec in specs:
        config = {
            "retention.ms": str(spec.retention_ms),
            "cleanup.policy": "compact,delete" if spec.compacted else "delete",
            "min.insync.replicas": "1",
        }
        topics.append(NewTopic(f"{prefix}{spec.name}", spec.partitions, 1, topic_configs=config))
        if include_dlq:
            # DLQ records wait for a human: keep them longer, one partition keeps them in arrival order.
            dlq_config = {"retention.ms": str(max(spec.retention_ms, 30 * 24 * 3600 * 1000)), "cleanup.policy": "delete"}
            topics.append(NewTopic(f"{prefix}{spec.dlq}", 1, 1, topic_configs=dlq_config))
    return topics


async def ensure_topics(
    bootstrap_servers: str, specs: Iterable[TopicSpec] = ALL_TOPICS, *, prefix: str = "", include_dlq: bool = True
) -> list[str]:
    """Creates missing topics; returns the names created."""
    wanted = new_topics(specs, prefix=prefix, include_dlq=include_dlq)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="topic-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
        await _wait_for_metadata(admin, {t.name for t in wanted})
        return [t.name for t in missing]
    finally:
        await admin.close()


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: set[str], timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        present = set(await admin.list_topics())
        if names <= present:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics not visible after {timeout_s}s: {sorted(names - present)}")
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    parser.add_argument("--prefix", default=os.environ.get("KAFKA_TOPIC_PREFIX", ""))
    args = parser.parse_args()
    created = asyncio.run(ensure_topics(args.bootstrap, prefix=args.prefix))
    total = len(new_topics(ALL_TOPICS, prefix=args.prefix))
    print(f"[topics] {len(created)} created, {total - len(created)} already present ({total} in the registry incl. DLQs)")


if __name__ == "__main__":
    main()
