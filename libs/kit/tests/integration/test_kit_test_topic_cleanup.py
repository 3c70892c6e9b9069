"""The test session deletes the topics of the prefixes it handed out, and only those: a long-lived local
broker otherwise collects thousands of partitions and shuts down once its open-file limit is reached."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import AUDIT_REQUESTED, LEAD_UPSERTED
from outreach_ops.topic_admin import ensure_topics
from servicekit.testing import delete_prefixed_topics, new_topic_prefix, wait_until

pytestmark = [pytest.mark.kafka]


async def _names(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_only_the_given_prefixes_topics_are_deleted(kafka_bootstrap: str) -> None:
    doomed, kept = new_topic_prefix("c"), new_topic_prefix("k")
    for prefix in (doomed, kept):
        await ensure_topics(kafka_bootstrap, [AUDIT_REQUESTED, LEAD_UPSERTED], prefix=prefix)
    assert await delete_prefixed_topics(kafka_bootstrap, {doomed}) == 4  # two topics and their DLQs

    async def doomed_gone() -> bool:  # the broker finishes a deletion shortly after acknowledging it
        return not any(n.startswith(doomed) for n in await _names(kafka_bootstrap))

    await wait_until(doomed_gone, timeout_s=15, what="the deleted topics to disappear")
    assert sum(n.startswith(kept) for n in await _names(kafka_bootstrap)) == 4
    assert await delete_prefixed_topics(kafka_bootstrap, {""}) == 0  # the unprefixed topics are never touched
