"""Creates the topics of the registry (and their DLQs) with their partitions and retention; idempotent.

    python -m outreach_ops.topic_admin [--bootstrap HOST:PORT] [--prefix P] [--command-config FILE]

Kafka security from `--command-config` (a Kafka-tools client properties file, see
servicekit.messaging.kafka_config.read_command_config), else from the `KAFKA_SECURITY_PROTOCOL`/`KAFKA_SASL_*`/
`KAFKA_SSL_*` variables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts.topics import ALL_TOPICS, DLQ_RETENTION_MS, TopicSpec
from servicekit.messaging.kafka_config import (
    CommandConfigError,
    KafkaSecurity,
    KafkaStartupError,
    client_options,
    read_command_config,
    resolve,
    security_from_env,
    start_client,
)


def new_topics(specs: Iterable[TopicSpec], *, prefix: str = "", include_dlq: bool = True) -> list[NewTopic]:
    topics: list[NewTopic] = []
    for spec in specs:
        config = {
            "retention.ms": str(spec.retention_ms),
            # Compact only: `compact,delete` would also drop a key's latest record once it is older than
            # retention.ms, and a new subscriber could no longer bootstrap that key.
            "cleanup.policy": "compact" if spec.compacted else "delete",
            "min.insync.replicas": "1",
        }
        topics.append(NewTopic(f"{prefix}{spec.name}", spec.partitions, 1, topic_configs=config))
        if include_dlq:
            # DLQ records wait for a human: kept DLQ_RETENTION_MS (never deleted by compaction: the same key may
            # be parked twice); one partition keeps them in arrival order.
            dlq_config = {"retention.ms": str(DLQ_RETENTION_MS), "cleanup.policy": "delete"}
            topics.append(NewTopic(f"{prefix}{spec.dlq}", 1, 1, topic_configs=dlq_config))
    return topics


async def ensure_topics(
    bootstrap_servers: str, specs: Iterable[TopicSpec] = ALL_TOPICS, *, prefix: str = "", include_dlq: bool = True,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Creates missing topics; returns the names created. `security` None: from the `KAFKA_*` variables."""
    wanted = new_topics(specs, prefix=prefix, include_dlq=include_dlq)
    sec = resolve(security)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="topic-admin", **client_options(sec))
    try:
        await start_client(admin.start, bootstrap_servers, sec, what="topic admin")
    except KafkaStartupError:
        await admin.close()
        raise
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
    parser.add_argument("--command-config", metavar="FILE",
                        help="Kafka client properties (security.protocol, sasl.*, ssl.*); default: KAFKA_* env")
    args = parser.parse_args()
    try:
        security = read_command_config(args.command_config) if args.command_config else security_from_env()
        created = asyncio.run(ensure_topics(args.bootstrap, prefix=args.prefix, security=security))
    except (CommandConfigError, KafkaStartupError, ValueError) as exc:
        raise SystemExit(f"[topics] error: {exc}") from exc
    total = len(new_topics(ALL_TOPICS, prefix=args.prefix))
    print(f"[topics] {len(created)} created, {total - len(created)} already present ({total} in the registry incl. DLQs)")


if __name__ == "__main__":
    main()
