"""Migrations on Kubernetes: a `<service>-migrate-<image tag>` Job per service applies them with the DDL role
(Secret outreach-migrator); every Deployment of the service waits in an initContainer, with the runtime role,
until the database is at its image's head; no process migrates at start (MIGRATE_ON_START=false). The dev
overlay's PostgreSQL creates both roles, and its Secrets use them."""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_support import K8S, OVERLAYS, SERVICES, kustomize_build, objects

Docs = list[dict[str, Any]]
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")  # a Job name becomes its pods' job-name label


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def _jobs(docs: Docs) -> dict[str, dict[str, Any]]:
    """{service: its migration Job}."""
    found: dict[str, dict[str, Any]] = {}
    for job in objects(docs, "Job").values():
        labels = job["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") == "migrate":
            assert labels["app.kubernetes.io/name"] not in found
            found[labels["app.kubernetes.io/name"]] = job
    return found


def _unhashed(name: str) -> str:
    """The name before kustomize's generator suffix (dev generates its Secrets; prod references them)."""
    return re.sub(r"-[a-z0-9]{10}$", "", name)


def _secret_refs(container: dict[str, Any]) -> set[str]:
    refs = {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
    refs |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", [])
             if "secretKeyRef" in e.get("valueFrom", {})}
    return {_unhashed(r) for r in refs}


def _config(docs: Docs) -> dict[str, str]:
    data: dict[str, str] = next(c for n, c in objects(docs, "ConfigMap").items()
                                if n.startswith("outreach-config-"))["data"]
    return data


def _secret_value(docs: Docs, name: str, key: str) -> str:
    (secret,) = [s for n, s in objects(docs, "Secret").items() if _unhashed(n) == name]
    return base64.b64decode(secret["data"][key]).decode()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_migration_job_per_service_with_the_ddl_role(rendered: dict[str, Docs], overlay: str) -> None:
    jobs = _jobs(rendered[overlay])
    assert set(jobs) == set(SERVICES)
    for service, job in jobs.items():
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", f"{service}.entrypoints.migrate"]
        # The name carries the image tag: a Job's pod template is immutable, a new version is a new Job.
        assert job["metadata"]["name"] == f"{service}-migrate-{_tag(container['image'])}"
        assert container["image"].startswith(f"outreach/{service}:")
        assert DNS_LABEL.match(job["metadata"]["name"]), job["metadata"]["name"]
        env = {e["name"]: e for e in container["env"]}
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert (_unhashed(ref["name"]), ref["key"]) == ("outreach-migrator", "DATABASE_URL")
        assert _secret_refs(container) == {"outreach-migrator"}  # not the runtime credentials
        assert pod["restartPolicy"] == "Never"
        assert 1 <= job["spec"]["backoffLimit"] <= 6
        assert job["spec"]["ttlSecondsAfterFinished"] >= 3600  # time to read its logs
        assert job["spec"]["activeDeadlineSeconds"] > 0
        assert pod["automountServiceAccountToken"] is False
    config = _config(rendered[overlay])
    assert config["MIGRATE_ON_START"] == "false"
    assert config["DB_RUNTIME_ROLE"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_of_a_service_waits_for_its_schema(rendered: dict[str, Docs], overlay: str) -> None:
    deployments = objects(rendered[overlay], "Deployment")
    seen = 0
    for name, deployment in deployments.items():
        service = deployment["metadata"]["labels"]["app.kubernetes.io/name"]
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            assert "outreach-migrator" not in _secret_refs(container), name  # the DDL role stays in the Job
        if service not in SERVICES:
            assert "initContainers" not in pod, name
            continue
        seen += 1
        (wait,) = pod["initContainers"]
        assert wait["command"] == ["python", "-m", f"{service}.entrypoints.migrate", "--wait"], name
        assert wait["image"] == pod["containers"][0]["image"], name  # waits for the head of the image it starts
        assert _secret_refs(wait) == {"outreach-secrets"}, name  # the runtime (DML-only) role
        assert any(e["name"] == "MIGRATE_WAIT_TIMEOUT_S" and int(e["value"]) > 0 for e in wait["env"]), name
    assert seen == 3 * len(SERVICES)


def test_a_new_image_tag_makes_new_migration_jobs(tmp_path: Path) -> None:
    """An overlay like prod with another tag: the Job names follow the tag, no hand edit."""
    prod = yaml.safe_load((K8S / "overlays" / "prod" / "kustomization.yaml").read_text())
    shutil.copy(K8S / "overlays" / "prod" / "replacements.yaml", tmp_path / "replacements.yaml")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "elsewhere",
        "resources": [os.path.relpath(K8S / "base", tmp_path)],
        "components": [os.path.relpath(K8S / "components" / "keda", tmp_path)],
        "images": [{**image, "newTag": "0.2.0-rc1"} for image in prod["images"]],
        "replacements": [{"path": "replacements.yaml"}],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    docs = kustomize_build(tmp_path)
    assert {j["metadata"]["name"] for j in _jobs(docs).values()} == {f"{s}-migrate-0.2.0-rc1" for s in SERVICES}
    # ... and the namespace reaches the Kafka address the same way.
    assert _config(docs)["KAFKA_BOOTSTRAP_SERVERS"] == "outreach-kafka-bootstrap.elsewhere.svc:9093"


def test_dev_database_has_the_migrator_and_a_dml_only_app_role(rendered: dict[str, Docs]) -> None:
    docs = rendered["dev"]
    runtime = urlsplit(_secret_value(docs, "outreach-secrets", "DATABASE_URL"))
    migrator = urlsplit(_secret_value(docs, "outreach-migrator", "DATABASE_URL"))
    assert runtime.username == _config(docs)["DB_RUNTIME_ROLE"] == "outreach_app"
    assert migrator.username == "outreach_migrator"
    assert (runtime.hostname, runtime.path) == (migrator.hostname, migrator.path)
    postgres = objects(docs, "Deployment")["postgres"]["spec"]["template"]["spec"]
    mount = next(m for m in postgres["containers"][0]["volumeMounts"] if m["mountPath"] == "/docker-entrypoint-initdb.d")
    volume = next(v for v in postgres["volumes"] if v["name"] == mount["name"])
    init = objects(docs, "ConfigMap")[volume["configMap"]["name"]]["data"]
    (script,) = init.values()
    assert script == (K8S / "overlays" / "dev" / "postgres-init-roles.sh").read_text()
    variables = dict(re.findall(r'-v (\w+)="\$\{\w+:-([^}]*)\}"', script))
    roles = {role: variables[var] for role, var in re.findall(r"CREATE ROLE (\w+) LOGIN PASSWORD :'(\w+)'", script)}
    assert roles == {"outreach_migrator": migrator.password, "outreach_app": runtime.password}
    assert not re.search(r"GRANT [^;]*CREATE[^;]* TO outreach_app", script)
