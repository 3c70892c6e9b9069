"""Writes the generated parts of the Kubernetes tree from their sources of truth, or checks them (`--check`).

    .venv/bin/python deploy/k8s/generate.py          # rewrite
    .venv/bin/python deploy/k8s/generate.py --check  # exit 1 if a committed file is stale

Sources: the topic registry (contracts.topics), the consumer groups of each service (the `add_consumer(...)`
calls in services/<service>/src/<service>/bootstrap.py: the code is the list of groups) and the hand-written
Deployments of base/ (their names and container names).

- base/kafka-topics.yaml: one Strimzi `KafkaTopic` (kafka.strimzi.io/v1) per registry topic and per DLQ;
  partitions, retention and cleanup policy come from `outreach_ops.topic_admin.new_topics`, the same function that
  creates the topics for docker-compose and the local broker, so the three never disagree.
- base/kafka-users.yaml: one `KafkaUser` per service (SCRAM-SHA-512, simple authorization) whose ACLs allow what
  its processes do and nothing else (see `service_acls`), and `outreach-ops` for the DLQ commands of the ops CLI.
- base/kafka-client.yaml: a strategic-merge patch per Deployment giving its container the Kafka client security
  settings (SASL_SSL, the KafkaUser's name and the password from the Secret the User Operator creates, the
  cluster CA mounted read-only).
- base/migrations.yaml: one `<service>-migrate` Job per service with migrations (DDL role, Secret
  `outreach-migrator`); base/migrate-wait.yaml: a patch giving every Deployment of that service an
  initContainer that waits (runtime role) until the database is at the image's head revision, and its container
  the database pool of its process type (`<SERVICE>_DB_POOL_SIZE`, see `pool_size`): the figures the
  connection budget adds up (deploy/k8s/budget.py, docs/KUBERNETES-RUNBOOK.md "Connection budget").
- components/keda/scaledobjects.yaml: one KEDA `ScaledObject` per service consumers Deployment, one kafka trigger
  per consumer group `<service>.<handler>`; components/keda/kafka-auth.yaml: the `TriggerAuthentication` (SASL
  SCRAM-SHA-512 over TLS) and the read-only `KafkaUser` KEDA uses to read the lag.
- overlays/<overlay>/replacements.yaml: kustomize replacements that write the overlay's namespace into the
  bootstrap address (ConfigMap, ScaledObjects) and each image tag into its migration Job's name.
- docs/KUBERNETES-RUNBOOK.md: the retention / replay-window table between its GENERATED markers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from contracts import topics as registry
from outreach_ops.consumer_groups import ConsumerGroup
from outreach_ops.consumer_groups import consumer_groups as read_consumer_groups
from outreach_ops.topic_admin import new_topics
from servicekit.process.db import pool_size_for

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
TOPICS_FILE = BASE / "kafka-topics.yaml"
USERS_FILE = BASE / "kafka-users.yaml"
CLIENT_PATCH_FILE = BASE / "kafka-client.yaml"
MIGRATIONS_FILE = BASE / "migrations.yaml"
MIGRATE_WAIT_FILE = BASE / "migrate-wait.yaml"
HARDENING_FILE = BASE / "hardening.yaml"  # a patch, not a resource
SCALEDOBJECTS_FILE = K8S / "components" / "keda" / "scaledobjects.yaml"
KEDA_AUTH_FILE = K8S / "components" / "keda" / "kafka-auth.yaml"
RUNBOOK_FILE = ROOT / "docs" / "KUBERNETES-RUNBOOK.md"
GENERATED_FILES = {TOPICS_FILE, USERS_FILE, CLIENT_PATCH_FILE, MIGRATIONS_FILE, MIGRATE_WAIT_FILE}

KAFKA_CLUSTER = "outreach"
# The overlay's namespace replaces NAMESPACE (overlays/*/replacements.yaml): the address must resolve from
# KEDA's namespace too, and `.svc` (not `.svc.cluster.local`) works whatever the cluster domain is. 9093 is the
# cluster's TLS listener with SCRAM-SHA-512 authentication.
NAMESPACE_PLACEHOLDER = "NAMESPACE"
BOOTSTRAP = f"{KAFKA_CLUSTER}-kafka-bootstrap.{NAMESPACE_PLACEHOLDER}.svc:9093"
CLUSTER_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"  # made by the Strimzi cluster operator
CA_DIR = "/etc/kafka-ca"
OPS_USER = "outreach-ops"
OPS_DEPLOYMENT = "outreach-ops"
KEDA_USER = "outreach-keda"
KEDA_TRIGGER_AUTH = "outreach-kafka"
KEDA_CONFIGMAP = "outreach-keda-kafka"
REDRIVE_GROUP_PREFIX = "ops.redrive."  # servicekit.messaging.dlq_depth.redrive_group
# Production durability; the dev overlay patches both down to its single broker.
REPLICAS = 3
MIN_INSYNC = 2
LAG_THRESHOLD = 100
MIGRATE_WAIT_TIMEOUT_S = 300
# Database connections the own loops of each service's consumers process hold at most at once, with the default
# settings: what its bootstrap registers (`runtime.add_loop(..., connections=N)`), which
# servicekit.process.pooling.size_pool counts (tests/deploy/test_deploy_connection_budget.py checks they agree).
CONSUMER_LOOP_CONNECTIONS = {
    "audits": 2,  # the audit worker: its poll and one outcome being recorded
    "leads": 1,  # the template check
    "unibox": 2,  # the opens poller and the webhook sweeper, side by side
    "writeback": 4,  # the delivery worker's parallel sends (delivery_concurrency)
}
RUNBOOK_BEGIN = "<!-- BEGIN GENERATED: retention table (deploy/k8s/generate.py) -->"
RUNBOOK_END = "<!-- END GENERATED: retention table -->"

HEADER = "# GENERATED by deploy/k8s/generate.py from {source}; do not edit by hand.\n"

def consumer_groups(root: Path = ROOT) -> dict[str, list[ConsumerGroup]]:
    """Groups per service, from the `add_consumer(TOPIC, "handler", ...)` calls of each service's bootstrap."""
    return read_consumer_groups(root)


def services(root: Path = ROOT) -> list[str]:
    """The services built on the kit (a bootstrap.py composition root); each has a Kafka identity."""
    return sorted(p.parent.name for p in root.glob("services/*/src/*/bootstrap.py"))


def migrating_services(root: Path = ROOT) -> list[str]:
    return [s for s in services(root) if (root / "services" / s / "src" / s / "migrations").is_dir()]


def kafka_user_name(service: str) -> str:
    """Also the SCRAM username and the name of the Secret the User Operator creates (key `password`)."""
    return f"outreach-{service}"


@dataclass(frozen=True)
class PodTarget:
    deployment: str
    container: str
    service: str  # app.kubernetes.io/name
    component: str = ""  # app.kubernetes.io/component: api, consumers, relay (the process type), ops


def base_deployments() -> list[PodTarget]:
    """The Deployments among the hand-written `resources` of base/kustomization.yaml."""
    found: list[PodTarget] = []
    for name in yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]:
        path = BASE / name
        if path in GENERATED_FILES:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                labels = doc["metadata"]["labels"]
                found.append(PodTarget(doc["metadata"]["name"], doc["spec"]["template"]["spec"]["containers"][0]["name"],
                                       labels["app.kubernetes.io/name"], labels.get("app.kubernetes.io/component", "")))
    return found


# --- topics ---------------------------------------------------------------------------------------------------

def _config_value(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


def kafka_topics() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for topic in new_topics(registry.ALL_TOPICS):
        config: dict[str, int | str] = {k: _config_value(v) for k, v in (topic.topic_configs or {}).items()}
        config["min.insync.replicas"] = MIN_INSYNC
        docs.append({
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            "metadata": {
                "name": topic.name,
                "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, "app.kubernetes.io/part-of": "outreach"},
            },
            "spec": {
                "topicName": topic.name,
                "partitions": topic.num_partitions,
                "replicas": REPLICAS,
                "config": dict(sorted(config.items())),
            },
        })
    return docs


# --- users and ACLs -------------------------------------------------------------------------------------------

def _acl(resource_type: str, name: str, operations: Iterable[str], *, prefix: bool = False) -> dict[str, Any]:
    return {"resource": {"type": resource_type, "name": name, "patternType": "prefix" if prefix else "literal"},
            "operations": sorted(operations), "host": "*"}


def _topic_acls(wanted: dict[str, set[str]]) -> list[dict[str, Any]]:
    return [_acl("topic", topic, ops) for topic, ops in sorted(wanted.items())]


def service_acls(service: str, groups: list[ConsumerGroup]) -> list[dict[str, Any]]:
    """What the service's processes do on the broker, and nothing more:
    - the relay publishes the registry topics whose producer is this service: Write (+ Describe, metadata);
    - its consumers read the topics they subscribe to (Read) and park poison records in each one's DLQ
      (`<topic>.dlq`, servicekit.messaging.dlq / EventConsumer.dlq_topic): Write on those DLQs;
    - its consumer groups are `<service>.<handler>`: Read on the group prefix `<service>.` (join, commit,
      fetch offsets; the replay of the ops CLI commits there too);
    - the API's /metrics reads the lag of those groups (covered above) and how far the DLQ redrive cursor
      `ops.redrive.<dlq>` has come on each DLQ it writes: Describe on those groups; and the age of the oldest
      record not redriven yet (one record read per partition with pending records): Read on those DLQs,
      which hold only copies of records the service already reads.
    No cluster ACL: the idempotent producers' InitProducerId is allowed with Write on any topic (KIP-679;
    kafka.server.KafkaApis.handleInitProducerIdRequest checks IDEMPOTENT_WRITE on the cluster OR WRITE on any
    topic), and topics are created by the Topic Operator, never by the services. The API readiness probe only
    lists topics, which needs no ACL (the broker returns the topics the user may describe)."""
    wanted: dict[str, set[str]] = {}
    for topic in registry.ALL_TOPICS:
        if topic.producer == service:
            wanted.setdefault(topic.name, set()).update({"Describe", "Write"})
    dlqs = sorted({registry.TOPIC_BY_NAME[g.topic].dlq for g in groups})
    for group in groups:
        wanted.setdefault(group.topic, set()).update({"Describe", "Read"})
    for dlq in dlqs:
        wanted.setdefault(dlq, set()).update({"Describe", "Read", "Write"})
    acls = _topic_acls(wanted)
    if groups:
        acls.append(_acl("group", f"{service}.", {"Describe", "Read"}, prefix=True))
        acls += [_acl("group", f"{REDRIVE_GROUP_PREFIX}{dlq}", {"Describe"}) for dlq in dlqs]
    return acls


def ops_acls(groups: dict[str, list[ConsumerGroup]]) -> list[dict[str, Any]]:
    """`outreach-ops` runs the ops CLI's DLQ commands (list, inspect, redrive) and `topics describe` / `lag`:
    read every DLQ, republish to the origin topics (Write, never Read: it cannot consume the live topics),
    keep the redrive cursors `ops.redrive.<dlq>`, read configs and the services' group offsets. Replays of a
    service's groups run with that service's own user (it alone may Read its groups and topics)."""
    wanted: dict[str, set[str]] = {}
    for topic in registry.ALL_TOPICS:
        wanted[topic.name] = {"Describe", "DescribeConfigs", "Write"}
        wanted[topic.dlq] = {"Describe", "DescribeConfigs", "Read"}
    acls = _topic_acls(wanted)
    acls += [_acl("group", f"{REDRIVE_GROUP_PREFIX}{t.dlq}", {"Describe", "Read"}) for t in registry.ALL_TOPICS]
    acls += [_acl("group", f"{service}.", {"Describe"}, prefix=True) for service in sorted(groups)]
    return acls


def keda_acls(groups: dict[str, list[ConsumerGroup]]) -> list[dict[str, Any]]:
    """KEDA's kafka scaler reads lag only: topic metadata and end offsets (Describe on the topics), the groups'
    committed offsets (Describe on each group)."""
    every = [g for service_groups in groups.values() for g in service_groups]
    acls = _topic_acls({t: {"Describe"} for t in sorted({g.topic for g in every})})
    acls += [_acl("group", g.group, {"Describe"}) for g in sorted(every, key=lambda g: g.group)]
    return acls


def kafka_user(name: str, acls: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, **labels}},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def kafka_users(groups: dict[str, list[ConsumerGroup]]) -> list[dict[str, Any]]:
    docs = [kafka_user(kafka_user_name(s), service_acls(s, groups.get(s, [])), {"app.kubernetes.io/name": s})
            for s in services()]
    docs.append(kafka_user(OPS_USER, ops_acls(groups), {"app.kubernetes.io/name": OPS_DEPLOYMENT}))
    return docs


# --- pods -----------------------------------------------------------------------------------------------------

def _user_of(target: PodTarget) -> str:
    return OPS_USER if target.deployment == OPS_DEPLOYMENT else kafka_user_name(target.service)


def kafka_client_patches(targets: list[PodTarget]) -> list[dict[str, Any]]:
    """The env names the kit's Kafka settings read (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_CAFILE)."""
    known = set(services())
    docs: list[dict[str, Any]] = []
    for target in targets:
        if target.service not in known and target.deployment != OPS_DEPLOYMENT:
            continue  # the dashboard talks to no broker
        user = _user_of(target)
        docs.append({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": target.deployment},
            "spec": {"template": {"spec": {
                "containers": [{
                    "name": target.container,
                    "env": [
                        {"name": "KAFKA_SECURITY_PROTOCOL", "value": "SASL_SSL"},
                        {"name": "KAFKA_SASL_MECHANISM", "value": "SCRAM-SHA-512"},
                        {"name": "KAFKA_SASL_USERNAME", "value": user},
                        {"name": "KAFKA_SASL_PASSWORD",
                         "valueFrom": {"secretKeyRef": {"name": user, "key": "password"}}},
                        {"name": "KAFKA_SSL_CAFILE", "value": f"{CA_DIR}/ca.crt"},
                    ],
                    "volumeMounts": [{"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True}],
                }],
                "volumes": [{"name": "kafka-ca", "secret": {
                    "secretName": CLUSTER_CA_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]}}],
            }}},
        })
    return docs


def _container_hardening() -> dict[str, Any]:
    """The container securityContext of hardening.yaml (the one place it is written)."""
    for op in yaml.safe_load(HARDENING_FILE.read_text()):
        if op["path"] == "/spec/template/spec/containers/0/securityContext":
            value: dict[str, Any] = op["value"]
            return value
    raise SystemExit(f"{HARDENING_FILE}: no container securityContext")


def migrate_command(service: str, *extra: str) -> list[str]:
    return ["python", "-m", f"{service}.entrypoints.migrate", *extra]


def migration_jobs() -> list[dict[str, Any]]:
    """Pod hardening comes from hardening.yaml (kustomization `patches` targets Jobs too). The overlay appends
    the image tag to the name (replacements.yaml): a Job's pod template is immutable, so each version is a new
    Job; ttlSecondsAfterFinished removes the finished ones (a re-apply of the same version then runs the
    migration again, which is a no-op at head)."""
    docs: list[dict[str, Any]] = []
    for service in migrating_services():
        labels = {"app.kubernetes.io/name": service, "app.kubernetes.io/component": "migrate"}
        docs.append({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": f"{service}-migrate", "labels": labels},
            "spec": {
                "backoffLimit": 3,
                "activeDeadlineSeconds": 1800,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "migrate",
                            "image": f"outreach/{service}",
                            "command": migrate_command(service),
                            # The DDL role; DB_RUNTIME_ROLE (outreach-config) is the role it grants DML to.
                            "env": [{"name": "DATABASE_URL", "valueFrom": {
                                "secretKeyRef": {"name": "outreach-migrator", "key": "DATABASE_URL"}}}],
                            "envFrom": [{"configMapRef": {"name": "outreach-config"}}],
                            "resources": {"requests": {"cpu": "100m", "memory": "192Mi"},
                                          "limits": {"memory": "512Mi"}},
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        })
    return docs


def pool_size(target: PodTarget, groups: dict[str, list[ConsumerGroup]]) -> int:
    """The kit's pool for the Deployment's process type (servicekit.process.db.pool_size_for): what the process would
    choose itself (servicekit.process.pooling.size_pool), written into the Deployment so the budget is in the manifests."""
    if target.component == "api":
        return pool_size_for("api")
    if target.component == "relay":
        return pool_size_for("relay")
    if target.component == "consumers":
        return pool_size_for("consumers", subscribers=len(groups.get(target.service, [])),
                             loop_connections=CONSUMER_LOOP_CONNECTIONS[target.service])
    raise SystemExit(f"{target.deployment}: component {target.component!r} is no process type with a database pool")


def pool_env_name(service: str) -> str:
    return f"{service.upper()}_DB_POOL_SIZE"  # the service's settings prefix + ServiceSettings.db_pool_size


def migrate_wait_patches(targets: list[PodTarget], groups: dict[str, list[ConsumerGroup]]) -> list[dict[str, Any]]:
    migrating = set(migrating_services())
    docs: list[dict[str, Any]] = []
    for target in targets:
        if target.service not in migrating:
            continue
        docs.append({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": target.deployment},
            "spec": {"template": {"spec": {"containers": [{
                "name": target.container,
                "env": [{"name": pool_env_name(target.service), "value": str(pool_size(target, groups))}],
            }], "initContainers": [{
                "name": "migrate-wait",
                "image": f"outreach/{target.service}",
                "command": migrate_command(target.service, "--wait"),
                "env": [{"name": "MIGRATE_WAIT_TIMEOUT_S", "value": str(MIGRATE_WAIT_TIMEOUT_S)}],
                # The runtime (DML-only) role of the service itself.
                "envFrom": [{"configMapRef": {"name": "outreach-config"}},
                            {"secretRef": {"name": "outreach-secrets"}}],
                "securityContext": _container_hardening(),
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }]}}},
        })
    return docs


# --- KEDA -----------------------------------------------------------------------------------------------------

def scaled_objects(groups: dict[str, list[ConsumerGroup]]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for service, service_groups in sorted(groups.items()):
        deployment = f"{service}-consumers"
        docs.append({
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": deployment, "labels": {"app.kubernetes.io/name": service,
                                                        "app.kubernetes.io/component": "consumers"}},
            "spec": {
                "scaleTargetRef": {"name": deployment},
                # Never to zero: the consumers process also runs the service's background loops.
                "minReplicaCount": 1,
                # Beyond the largest partition count of its topics a replica would hold no partition.
                "maxReplicaCount": max(g.partitions for g in service_groups),
                "pollingInterval": 15,
                "cooldownPeriod": 300,
                "triggers": [
                    {
                        "type": "kafka",
                        "name": g.handler.replace("_", "-"),
                        "authenticationRef": {"name": KEDA_TRIGGER_AUTH},
                        "metadata": {
                            "bootstrapServers": BOOTSTRAP,
                            "consumerGroup": g.group,
                            "topic": g.topic,
                            "lagThreshold": str(LAG_THRESHOLD),
                            "offsetResetPolicy": "earliest",
                        },
                    }
                    for g in service_groups
                ],
            },
        })
    return docs


def keda_auth(groups: dict[str, list[ConsumerGroup]]) -> list[dict[str, Any]]:
    """KEDA's kafka scaler takes `sasl`, `tls`, `username`, `password` and `ca` as authentication parameters
    (kedacore/keda pkg/scalers/kafka_scaler.go); KEDA reads them from this namespace's ConfigMap and Secrets."""
    labels = {"app.kubernetes.io/name": "keda"}
    return [
        kafka_user(KEDA_USER, keda_acls(groups), labels),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            # A plain resource, not a generator: KEDA finds it by this exact name (no hash suffix).
            "metadata": {"name": KEDA_CONFIGMAP, "labels": labels},
            "data": {"sasl": "scram_sha512", "tls": "enable", "username": KEDA_USER},
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "TriggerAuthentication",
            "metadata": {"name": KEDA_TRIGGER_AUTH, "labels": labels},
            "spec": {
                "configMapTargetRef": [{"parameter": p, "name": KEDA_CONFIGMAP, "key": p}
                                       for p in ("sasl", "tls", "username")],
                "secretTargetRef": [
                    {"parameter": "password", "name": KEDA_USER, "key": "password"},  # the User Operator's Secret
                    {"parameter": "ca", "name": CLUSTER_CA_SECRET, "key": "ca.crt"},
                ],
            },
        },
    ]


# --- overlays -------------------------------------------------------------------------------------------------

def overlay_replacements() -> list[dict[str, Any]]:
    replacements: list[dict[str, Any]] = [{
        "source": {"kind": "ConfigMap", "name": "outreach-config", "fieldPath": "metadata.namespace"},
        "targets": [
            {"select": {"kind": "ConfigMap", "name": "outreach-config"},
             "fieldPaths": ["data.KAFKA_BOOTSTRAP_SERVERS"], "options": {"delimiter": ".", "index": 1}},
            {"select": {"kind": "ScaledObject"},
             "fieldPaths": ["spec.triggers.*.metadata.bootstrapServers"], "options": {"delimiter": ".", "index": 1}},
        ],
    }]
    for service in migrating_services():
        job = f"{service}-migrate"
        replacements.append({
            "source": {"kind": "Job", "name": job, "fieldPath": "spec.template.spec.containers.0.image",
                       "options": {"delimiter": ":", "index": 1}},
            "targets": [{"select": {"kind": "Job", "name": job}, "fieldPaths": ["metadata.name"],
                         "options": {"delimiter": "-", "index": 2, "create": True}}],
        })
    return replacements


def overlays() -> list[Path]:
    return sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))


# --- runbook --------------------------------------------------------------------------------------------------

def _days(ms: int) -> str:
    if ms == registry.INFINITE_RETENTION_MS:
        return "forever"
    days = ms / registry.DAY_MS
    return f"{days:g} days"


def retention_table() -> str:
    by_name = {t.name: t for t in new_topics(registry.ALL_TOPICS)}
    rows = ["| topic | producer | partitions | cleanup.policy | retention.ms | replay window (`--from-earliest` re-delivers) "
            "| DLQ retention |", "|---|---|---|---|---|---|---|"]
    for spec in registry.ALL_TOPICS:
        config = by_name[spec.name].topic_configs or {}
        dlq = by_name[spec.dlq].topic_configs or {}
        policy, retention = config["cleanup.policy"], int(config["retention.ms"])
        if policy == "compact":
            window = "the latest record of every key, ever (compacted)"
        else:
            window = f"the last {_days(retention)}"
        rows.append(f"| `{spec.name}` | {spec.producer} | {spec.partitions} | `{policy}` | {retention} ({_days(retention)}) "
                    f"| {window} | {_days(int(dlq['retention.ms']))} |")
    return "\n".join(rows) + "\n"


def runbook_text() -> str | None:
    if not RUNBOOK_FILE.exists():
        return None
    text = RUNBOOK_FILE.read_text()
    start, end = text.find(RUNBOOK_BEGIN), text.find(RUNBOOK_END)
    if start < 0 or end < start:
        raise SystemExit(f"{RUNBOOK_FILE}: the markers {RUNBOOK_BEGIN!r} ... {RUNBOOK_END!r} are missing")
    return text[: start + len(RUNBOOK_BEGIN)] + "\n" + retention_table() + text[end:]


# --- output ---------------------------------------------------------------------------------------------------

def render(docs: list[dict[str, Any]], source: str) -> str:
    return HEADER.format(source=source) + yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)


def outputs() -> dict[Path, str]:
    groups = consumer_groups()
    targets = base_deployments()
    bootstraps = "the add_consumer calls in services/*/src/*/bootstrap.py"
    out = {
        TOPICS_FILE: render(kafka_topics(), "contracts/src/contracts/topics.py"),
        USERS_FILE: render(kafka_users(groups), f"contracts/src/contracts/topics.py and {bootstraps}"),
        CLIENT_PATCH_FILE: render(kafka_client_patches(targets), "the Deployments of deploy/k8s/base"),
        MIGRATIONS_FILE: render(migration_jobs(), "services/*/src/*/migrations"),
        MIGRATE_WAIT_FILE: render(migrate_wait_patches(targets, groups),
                                  f"the Deployments of deploy/k8s/base and {bootstraps}"),
        SCALEDOBJECTS_FILE: render(scaled_objects(groups), bootstraps),
        KEDA_AUTH_FILE: render(keda_auth(groups), bootstraps),
    }
    for overlay in overlays():
        out[overlay / "replacements.yaml"] = HEADER.format(
            source="the Jobs of base/migrations.yaml and the overlay's namespace") + yaml.safe_dump(
            overlay_replacements(), sort_keys=False)
    runbook = runbook_text()
    if runbook is not None:
        out[RUNBOOK_FILE] = runbook
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs")
    parser.add_argument("--budget", action="store_true",
                        help="print the connection budget of the rendered overlays (deploy/k8s/budget.py; kubectl)")
    args = parser.parse_args(argv)
    if args.budget:
        sys.path.insert(0, str(K8S))
        import budget

        return budget.main([])
    stale = []
    for path, text in outputs().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.write_text(text)
            print(f"[k8s] wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"[k8s] stale: {', '.join(map(str, stale))}; run: .venv/bin/python deploy/k8s/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
