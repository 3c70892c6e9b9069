"""Every Strimzi and KEDA object of every overlay is valid for the operators' published CRDs committed in
deploy/k8s/schemas (Strimzi 1.2.0: kafka.strimzi.io/v1 only; KEDA 2.20.2), with unknown fields refused and the
CEL rules of the fields used evaluated (crd_support). The committed CRDs are the published files, unmodified."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from crd_support import CRD_DIRS, SCHEMAS, CrdValidationError, load_crds, validate
from deploy_support import OVERLAYS

CUSTOM_GROUPS = ("kafka.strimzi.io/", "keda.sh/")
# The parameters KEDA's kafka scaler reads from a trigger's metadata (kedacore/keda v2.20.2,
# pkg/scalers/kafka_scaler.go, `order=triggerMetadata`): the CRD types metadata as a free map of strings, so a
# misspelt key would be ignored by KEDA without this list.
KAFKA_TRIGGER_METADATA = {
    "bootstrapServers", "bootstrapServersFromEnv", "consumerGroup", "consumerGroupFromEnv", "topic", "topicFromEnv",
    "partitionLimitation", "lagThreshold", "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
    "excludePersistentLag", "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions", "version", "tls", "unsafeSsl", "sasl", "saslTokenProvider", "awsRegion",
}
# ... and from a TriggerAuthentication (`order=authParams`).
KAFKA_AUTH_PARAMS = {"tls", "ca", "cert", "key", "keyPassword", "sasl", "username", "password", "saslTokenProvider",
                     "scopes", "oauthTokenEndpointUri", "oauthExtensions", "keytab", "realm", "kerberosConfig",
                     "kerberosServiceName", "kerberosDisableFAST"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

Docs = list[dict[str, Any]]


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str], Any]:
    return load_crds()


def _custom(docs: Docs) -> Docs:
    return [d for d in docs if d["apiVersion"].startswith(CUSTOM_GROUPS)]


def _first(docs: Docs, kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in docs if d["kind"] == kind))


@pytest.mark.parametrize("directory", CRD_DIRS)
def test_committed_crds_are_the_published_files_unmodified(directory: str) -> None:
    folder = SCHEMAS / directory
    sums: dict[str, str] = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name] = digest
    files = {p.name for p in folder.glob("*.yaml")}
    assert files and set(sums) == files
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    version = (folder / "VERSION").read_text().strip()
    assert directory.endswith(f"-{version}")
    assert f"`{directory}/`" in (SCHEMAS / "README.md").read_text()


def test_strimzi_1_serves_only_v1(crds: dict[tuple[str, str], Any]) -> None:
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"):
        assert set(crds[("kafka.strimzi.io", kind)].served) == {"v1"}, kind


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_custom_resource_is_valid_for_its_crd(rendered: dict[str, Docs], overlay: str,
                                                    crds: dict[tuple[str, str], Any]) -> None:
    custom = _custom(rendered[overlay])
    kinds = {d["kind"] for d in custom}
    assert {"KafkaTopic", "KafkaUser", "ScaledObject", "TriggerAuthentication"} <= kinds
    if overlay == "dev":
        assert {"Kafka", "KafkaNodePool"} <= kinds
    for doc in custom:
        assert doc["apiVersion"] in {"kafka.strimzi.io/v1", "keda.sh/v1alpha1"}, doc["apiVersion"]
        assert DNS_SUBDOMAIN.match(doc["metadata"]["name"]), doc["metadata"]["name"]
        if doc["apiVersion"].startswith("kafka.strimzi.io/") and doc["kind"] not in {"Kafka"}:
            assert doc["metadata"]["labels"]["strimzi.io/cluster"] == "outreach", doc["metadata"]["name"]
        validate(doc, crds)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_triggers_and_their_authentication_use_only_parameters_keda_reads(rendered: dict[str, Docs],
                                                                                overlay: str) -> None:
    for scaled in (d for d in rendered[overlay] if d["kind"] == "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            assert set(trigger["metadata"]) <= KAFKA_TRIGGER_METADATA, trigger["metadata"]
    for auth in (d for d in rendered[overlay] if d["kind"] == "TriggerAuthentication"):
        refs = [*auth["spec"].get("secretTargetRef", []), *auth["spec"].get("configMapTargetRef", [])]
        assert refs and {r["parameter"] for r in refs} <= KAFKA_AUTH_PARAMS


# --- the validation is strict: each of these mistakes is refused ------------------------------------------------

def test_a_v1beta2_resource_is_refused(rendered: dict[str, Docs], crds: dict[tuple[str, str], Any]) -> None:
    topic = _first(rendered["prod"], "KafkaTopic")
    topic["apiVersion"] = "kafka.strimzi.io/v1beta2"
    with pytest.raises(CrdValidationError, match="not served"):
        validate(topic, crds)


def test_fields_removed_in_strimzi_v1_are_refused(rendered: dict[str, Docs], crds: dict[tuple[str, str], Any]) -> None:
    kafka = _first(rendered["dev"], "Kafka")
    validate(kafka, crds)
    for removed in ({"zookeeper": {"replicas": 1, "storage": {"type": "ephemeral"}}},):
        broken = copy.deepcopy(kafka)
        broken["spec"].update(removed)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, crds)
    broken = copy.deepcopy(kafka)
    broken["spec"]["kafka"]["replicas"] = 1  # brokers come from KafkaNodePools only
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, crds)
    user = _first(rendered["prod"], "KafkaUser")
    acl = user["spec"]["authorization"]["acls"][0]
    acl["operation"] = acl.pop("operations")[0]  # the v1beta2 single-operation form
    with pytest.raises(jsonschema.ValidationError):
        validate(user, crds)


def test_a_misspelt_or_out_of_range_field_is_refused(rendered: dict[str, Docs],
                                                     crds: dict[tuple[str, str], Any]) -> None:
    topic = _first(rendered["prod"], "KafkaTopic")
    topic["spec"]["partition"] = topic["spec"].pop("partitions")
    with pytest.raises(jsonschema.ValidationError):
        validate(topic, crds)
    user = _first(rendered["prod"], "KafkaUser")
    user["spec"]["authorization"]["acls"][0]["operations"] = ["IdempotentWrites"]
    with pytest.raises(jsonschema.ValidationError):
        validate(user, crds)
    scaled = _first(rendered["prod"], "ScaledObject")
    scaled["spec"]["triggers"][0]["authenticationRef"]["kind"] = "Secret"
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled, crds)


def test_cel_rules_are_evaluated(rendered: dict[str, Docs], crds: dict[tuple[str, str], Any]) -> None:
    scaled = _first(rendered["prod"], "ScaledObject")
    scaled["spec"]["minReplicaCount"] = scaled["spec"]["maxReplicaCount"] + 1
    with pytest.raises(CrdValidationError, match="minReplicaCount"):
        validate(scaled, crds)
    user = _first(rendered["prod"], "KafkaUser")
    user["spec"]["authentication"]["validityDays"] = 30  # only with type tls
    with pytest.raises(CrdValidationError, match="validityDays"):
        validate(user, crds)
