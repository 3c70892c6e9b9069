"""The generated manifests match their sources: KafkaTopics the topic registry (every topic and its DLQ, with
the same partitions, retention and cleanup policy the topic admin creates), ScaledObjects the consumer groups
the services' bootstraps register. The groups are re-derived here with `ast`, independently of the generator's
regular expression."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from deploy_support import K8S, groups_from_code

from contracts import topics as registry
from outreach_ops.topic_admin import new_topics


def _load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_committed_generated_files_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(K8S / "generate.py"), "--check"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_kafka_topics_cover_the_registry_and_every_dlq() -> None:
    docs = _load(K8S / "base" / "kafka-topics.yaml")
    by_name = {d["spec"]["topicName"]: d for d in docs}
    expected = {t.name for t in registry.ALL_TOPICS} | {t.dlq for t in registry.ALL_TOPICS}
    assert set(by_name) == expected
    for topic in new_topics(registry.ALL_TOPICS):
        spec = by_name[topic.name]["spec"]
        assert spec["partitions"] == topic.num_partitions
        config = topic.topic_configs or {}
        assert str(spec["config"]["retention.ms"]) == config["retention.ms"]
        assert spec["config"]["cleanup.policy"] == config["cleanup.policy"]
    compacted = {t.name for t in registry.ALL_TOPICS if t.compacted}
    assert {n for n, d in by_name.items() if "compact" in d["spec"]["config"]["cleanup.policy"]} == compacted
    assert all(by_name[t.dlq]["spec"]["partitions"] == 1 for t in registry.ALL_TOPICS)


def test_scaled_objects_scale_every_consumer_group_the_code_registers() -> None:
    code = groups_from_code()
    assert {"leads", "writeback", "unibox"} <= set(code)  # the services that consume today
    docs = _load(K8S / "components" / "keda" / "scaledobjects.yaml")
    manifest = {
        d["spec"]["scaleTargetRef"]["name"].removesuffix("-consumers"): {
            t["metadata"]["consumerGroup"]: t["metadata"]["topic"] for t in d["spec"]["triggers"]
        }
        for d in docs
    }
    assert manifest == code
    for doc in docs:
        topics = {t["metadata"]["topic"] for t in doc["spec"]["triggers"]}
        most = max(registry.TOPIC_BY_NAME[t].partitions for t in topics)
        assert doc["spec"]["maxReplicaCount"] == most


def test_the_known_leads_groups_are_scaled() -> None:
    groups = groups_from_code()["leads"]
    assert set(groups) >= {"leads.on_audit_started", "leads.on_audit_completed", "leads.on_audit_failed",
                           "leads.on_writeback_completed", "leads.on_writeback_failed",
                           "leads.on_email_activity_received"}
