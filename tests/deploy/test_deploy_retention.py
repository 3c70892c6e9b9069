"""Retention that fits the users: the lead snapshot topic is compacted and never deleted by age (a new subscriber
bootstraps every lead), DLQs keep their records 90 days whatever their origin keeps, in the topic admin
(docker-compose, the local broker) and in the KafkaTopics alike; the runbook's replay-window table says so."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_support import OVERLAYS, ROOT, objects

from contracts import topics as registry
from outreach_ops.topic_admin import new_topics

DAY_MS = 24 * 3600 * 1000


def _configs() -> dict[str, dict[str, str]]:
    return {t.name: dict(t.topic_configs or {}) for t in new_topics(registry.ALL_TOPICS)}


def test_the_lead_snapshot_topic_is_compacted_without_time_based_deletion() -> None:
    assert registry.LEAD_UPSERTED.compacted
    config = _configs()[registry.LEAD_UPSERTED.name]
    assert config["cleanup.policy"] == "compact"  # not "compact,delete": that drops old keys' last record
    assert config["retention.ms"] == "-1"


def test_only_compacted_topics_keep_records_forever_and_dlqs_keep_90_days() -> None:
    configs = _configs()
    for spec in registry.ALL_TOPICS:
        config, dlq = configs[spec.name], configs[spec.dlq]
        assert (config["retention.ms"] == "-1") == spec.compacted, spec.name
        if not spec.compacted:
            assert config["cleanup.policy"] == "delete" and int(config["retention.ms"]) >= 7 * DAY_MS, spec.name
        assert dlq == {"retention.ms": str(90 * DAY_MS), "cleanup.policy": "delete"}, spec.dlq
        assert int(dlq["retention.ms"]) == registry.DLQ_RETENTION_MS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_kafka_topics_carry_the_same_retention(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    topics = {t["spec"]["topicName"]: t["spec"]["config"] for t in objects(rendered[overlay], "KafkaTopic").values()}
    snapshot = topics[registry.LEAD_UPSERTED.name]
    assert snapshot["cleanup.policy"] == "compact" and snapshot["retention.ms"] == -1  # an integer, as Kafka's
    for name, config in _configs().items():
        assert str(topics[name]["retention.ms"]) == config["retention.ms"], name
        assert topics[name]["cleanup.policy"] == config["cleanup.policy"], name


def test_the_runbook_table_lists_every_topic_with_its_window() -> None:
    text = (ROOT / "docs" / "KUBERNETES-RUNBOOK.md").read_text()
    rows = {m.group(1): [c.strip() for c in m.group(2).split("|")]
            for m in re.finditer(r"^\| `([a-z0-9.-]+)` \|(.*)\|$", text, re.M)}
    configs = _configs()
    assert set(rows) == {t.name for t in registry.ALL_TOPICS}
    for spec in registry.ALL_TOPICS:
        producer, partitions, policy, retention, window, dlq = rows[spec.name]
        assert (producer, int(partitions)) == (spec.producer, spec.partitions)
        assert policy == f"`{configs[spec.name]['cleanup.policy']}`"
        assert retention.split()[0] == configs[spec.name]["retention.ms"]
        assert ("ever" in window) == spec.compacted, spec.name
        assert dlq == "90 days"


def test_the_dev_cluster_keeps_idle_group_offsets_as_long_as_the_dlqs(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The redrive cursors ops.redrive.<dlq> and a paused group's offsets must outlive a DLQ record."""
    config = objects(rendered["dev"], "Kafka")["outreach"]["spec"]["kafka"]["config"]
    assert config["offsets.retention.minutes"] * 60_000 >= registry.DLQ_RETENTION_MS
