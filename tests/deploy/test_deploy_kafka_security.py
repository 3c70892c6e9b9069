"""Kafka security on Kubernetes: one SCRAM-SHA-512 KafkaUser per service whose ACLs are exactly what its processes
need (derived here from the registry and the services' add_consumer calls, independently of the generator),
every Kafka client pod set up for SASL_SSL with its own user's Secret and the cluster CA, the fully-qualified
bootstrap address of the overlay's namespace, and KEDA authenticating with a read-only user."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import OVERLAYS, SERVICES, groups_from_code, objects

from contracts import topics as registry

Docs = list[dict[str, Any]]
CA_SECRET = "outreach-cluster-ca-cert"
CLIENT_ENV = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
              "KAFKA_SSL_CAFILE": "/etc/kafka-ca/ca.crt"}


def _grants(user: dict[str, Any]) -> dict[tuple[str, str, str], set[str]]:
    """{(resource type, pattern type, name): operations} of a KafkaUser; every rule an `allow` from any host."""
    out: dict[tuple[str, str, str], set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        assert acl.get("type", "allow") == "allow" and acl.get("host", "*") == "*", acl
        resource = acl["resource"]
        key = (resource["type"], resource.get("patternType", "literal"), resource.get("name", ""))
        out.setdefault(key, set()).update(acl["operations"])
    return out


def _topics_with(grants: dict[tuple[str, str, str], set[str]], operation: str) -> set[str]:
    return {name for (kind, pattern, name), ops in grants.items()
            if kind == "topic" and (operation in ops or "All" in ops)}


def _allows(grants: dict[tuple[str, str, str], set[str]], kind: str, name: str, operation: str) -> bool:
    """Kafka's rule: a literal or prefix ACL matches; Read/Write/Delete/Alter imply Describe."""
    implied = {operation} | ({"Read", "Write", "Delete", "Alter", "All"} if operation == "Describe" else {"All"})
    return any(k == kind and (name == n if p == "literal" else name.startswith(n)) and ops & implied
               for (k, p, n), ops in grants.items())


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_user_may_do_exactly_what_its_processes_do(rendered: dict[str, Docs], overlay: str) -> None:
    users = objects(rendered[overlay], "KafkaUser")
    code = groups_from_code()
    for service in SERVICES:
        user = users[f"outreach-{service}"]
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"
        grants = _grants(user)
        groups = code.get(service, {})
        consumed = set(groups.values())
        produced = {t.name for t in registry.ALL_TOPICS if t.producer == service}
        dlqs = {registry.TOPIC_BY_NAME[t].dlq for t in consumed}
        # Least privilege: Write only on its own registry topics and the DLQs of what it consumes; Read only on
        # what it consumes and its DLQs; nothing on the cluster, no wildcard topic, no other service's groups.
        assert _topics_with(grants, "Write") == produced | dlqs, service
        assert _topics_with(grants, "Read") == consumed | dlqs, service
        assert not any(kind in {"cluster", "transactionalId"} for kind, _, _ in grants), service
        assert not any(kind == "topic" and pattern != "literal" for kind, pattern, _ in grants), service
        assert all(ops <= {"Read", "Write", "Describe"} for ops in grants.values()), service
        for kind, pattern, name in grants:
            if kind == "group":
                assert (pattern, name) == ("prefix", f"{service}.") or (
                    pattern == "literal" and name in {f"ops.redrive.{d}" for d in dlqs}), (service, name)
                if name.startswith("ops.redrive."):
                    assert grants[(kind, pattern, name)] == {"Describe"}, name
        # ... and enough: every group of the code can join/commit, every topic be produced / consumed.
        for group, topic in groups.items():
            assert _allows(grants, "group", group, "Read"), group
            assert _allows(grants, "topic", topic, "Read"), topic
            assert _allows(grants, "topic", registry.TOPIC_BY_NAME[topic].dlq, "Write"), topic
        for topic in produced:
            assert _allows(grants, "topic", topic, "Write"), topic
        # Idempotent producers: InitProducerId needs IdempotentWrite on the cluster OR Write on any topic
        # (KIP-679, kafka.server.KafkaApis.handleInitProducerIdRequest); every service writes some topic.
        assert _topics_with(grants, "Write"), service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_service_can_write_another_services_topics(rendered: dict[str, Docs], overlay: str) -> None:
    users = objects(rendered[overlay], "KafkaUser")
    for service in SERVICES:
        grants = _grants(users[f"outreach-{service}"])
        for topic in registry.ALL_TOPICS:
            if topic.producer != service:
                assert not _allows(grants, "topic", topic.name, "Write"), (service, topic.name)
        for other in SERVICES:
            if other != service:
                assert not _allows(grants, "group", f"{other}.on_anything", "Read"), (service, other)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_and_ops_users_are_limited(rendered: dict[str, Docs], overlay: str) -> None:
    users = objects(rendered[overlay], "KafkaUser")
    code = groups_from_code()
    keda = _grants(users["outreach-keda"])
    assert all(ops == {"Describe"} for ops in keda.values())
    for groups in code.values():
        for group, topic in groups.items():
            assert _allows(keda, "group", group, "Describe") and _allows(keda, "topic", topic, "Describe")
    ops = _grants(users["outreach-ops"])
    assert _topics_with(ops, "Read") == {t.dlq for t in registry.ALL_TOPICS}  # never the live topics
    assert _topics_with(ops, "Write") == {t.name for t in registry.ALL_TOPICS}  # redrive to the origin
    for spec in registry.ALL_TOPICS:
        assert _allows(ops, "group", f"ops.redrive.{spec.dlq}", "Read")
    assert not any(kind == "group" and "Read" in o and not name.startswith("ops.redrive.")
                   for (kind, _, name), o in ops.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kafka_client_pod_connects_with_its_own_user_over_tls(rendered: dict[str, Docs], overlay: str) -> None:
    users = objects(rendered[overlay], "KafkaUser")
    deployments = objects(rendered[overlay], "Deployment")
    clients = {name: d for name, d in deployments.items() if name.split("-")[0] in SERVICES} | {
        "outreach-ops": deployments["outreach-ops"]}
    assert len(clients) == 3 * len(SERVICES) + 1
    for name, deployment in clients.items():
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = _env(container)
        user = "outreach-ops" if name == "outreach-ops" else f"outreach-{name.split('-')[0]}"
        assert user in users, name
        assert {k: env.get(k) for k in CLIENT_ENV} == CLIENT_ENV, name
        assert env["KAFKA_SASL_USERNAME"] == user, name
        assert env["KAFKA_SASL_PASSWORD"] == {"secretKeyRef": {"name": user, "key": "password"}}, name
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/kafka-ca")
        assert mount["readOnly"] is True, name
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert volume["secret"]["secretName"] == CA_SECRET, name
        assert {"key": "ca.crt", "path": "ca.crt"} in volume["secret"]["items"], name
    assert "KAFKA_SASL_USERNAME" not in _env(deployments["dashboard"]["spec"]["template"]["spec"]["containers"][0])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_bootstrap_addresses_are_fully_qualified_in_the_overlays_namespace(rendered: dict[str, Docs],
                                                                           overlay: str) -> None:
    docs = rendered[overlay]
    namespace = objects(docs, "Deployment")["leads-api"]["metadata"]["namespace"]
    expected = f"outreach-kafka-bootstrap.{namespace}.svc:9093"
    config = next(c for n, c in objects(docs, "ConfigMap").items() if n.startswith("outreach-config-"))
    assert config["data"]["KAFKA_BOOTSTRAP_SERVERS"] == expected
    # The ACLs name the registry topics and groups without a prefix.
    assert config["data"]["KAFKA_TOPIC_PREFIX"] == ""
    triggers = [t for d in objects(docs, "ScaledObject").values() for t in d["spec"]["triggers"]]
    assert triggers and all(t["metadata"]["bootstrapServers"] == expected for t in triggers)
    assert all(d["metadata"].get("namespace") == namespace for d in docs if d["kind"] != "Namespace")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_authenticates_with_sasl_scram_over_tls(rendered: dict[str, Docs], overlay: str) -> None:
    docs = rendered[overlay]
    auths = objects(docs, "TriggerAuthentication")
    configmaps = objects(docs, "ConfigMap")
    for scaled in objects(docs, "ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            ref = trigger["authenticationRef"]
            assert ref.get("kind", "TriggerAuthentication") == "TriggerAuthentication"
            auth = auths[ref["name"]]["spec"]
            params: dict[str, Any] = {}
            for item in auth.get("configMapTargetRef", []):
                params[item["parameter"]] = configmaps[item["name"]]["data"][item["key"]]
            for item in auth.get("secretTargetRef", []):
                params[item["parameter"]] = ("secret", item["name"], item["key"])
            assert params["sasl"] == "scram_sha512" and params["tls"] == "enable"
            assert params["username"] == "outreach-keda"
            assert params["password"] == ("secret", "outreach-keda", "password")  # the User Operator's Secret
            assert params["ca"] == ("secret", CA_SECRET, "ca.crt")
            assert "unsafeSsl" not in trigger["metadata"]


def test_the_dev_cluster_has_only_a_tls_scram_listener_and_acls(rendered: dict[str, Docs]) -> None:
    kafka = objects(rendered["dev"], "Kafka")["outreach"]["spec"]
    listeners = kafka["kafka"]["listeners"]
    assert listeners == [{"name": "tls", "port": 9093, "type": "internal", "tls": True,
                          "authentication": {"type": "scram-sha-512"}}]
    assert kafka["kafka"]["authorization"] == {"type": "simple"}
    assert {"topicOperator", "userOperator"} <= set(kafka["entityOperator"])
    pools = objects(rendered["dev"], "KafkaNodePool")
    assert sum(p["spec"]["replicas"] for p in pools.values() if "broker" in p["spec"]["roles"]) == 1
