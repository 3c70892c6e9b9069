"""docker-compose.yml, checked statically (no Docker engine here, and the `docker compose` plugin is not
installed, so `docker compose config` cannot run): it parses, every service runs its API, consumers and relay
from its image (the one Dockerfile with the service as build argument), dependencies wait on health, the environment agrees with the infrastructure it names,
the topics come from the registry through the init job, and the schemas from a migration one-shot per service
running as the DDL role while the services run as the DML-only role the postgres init script creates."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any
from urllib.parse import urlsplit

from deploy_support import K8S, ROOT, SERVICES

from contracts.topics import ALL_TOPICS
from outreach_ops import topic_admin

TOP_LEVEL = {"name", "services", "volumes", "networks", "configs", "secrets"}
SERVICE_KEYS = {"image", "build", "command", "entrypoint", "environment", "env_file", "ports", "volumes",
                "depends_on", "healthcheck", "restart", "read_only", "tmpfs", "network_mode", "user",
                "working_dir", "labels", "expose"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
APP_ENV = {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX", "LOG_LEVEL", "API_KEYS",
           "PLUSVIBE_BASE_URL", "PLUSVIBE_API_KEY", "PLUSVIBE_WORKSPACE_ID", "MIGRATE_ON_START"}
INIT_DIR = "/docker-entrypoint-initdb.d/"


def _default(value: str) -> str:
    """`${VAR:-default}` -> default (what compose substitutes when VAR is unset); other text unchanged."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def _init_roles(compose: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The postgres init script mounted into docker-entrypoint-initdb.d, and {role: default password} it creates."""
    mounts = [v for v in compose["services"]["postgres"]["volumes"] if f":{INIT_DIR}" in v]
    assert len(mounts) == 1, mounts
    script = (ROOT / mounts[0].split(":", 1)[0]).read_text()
    variables = dict(re.findall(r'-v (\w+)="\$\{\w+:-([^}]*)\}"', script))
    roles = {role: variables[var] for role, var in re.findall(r"CREATE ROLE (\w+) LOGIN PASSWORD :'(\w+)'", script)}
    return script, roles


def _deps(service: dict[str, Any]) -> dict[str, dict[str, str]]:
    deps = service.get("depends_on", {})
    return {name: {"condition": "service_started"} for name in deps} if isinstance(deps, list) else dict(deps)


def test_file_uses_only_known_compose_keys(compose: dict[str, Any]) -> None:
    assert {k for k in compose if not k.startswith("x-")} <= TOP_LEVEL
    for name, service in compose["services"].items():
        unknown = set(service) - SERVICE_KEYS
        assert not unknown, (name, unknown)
        assert "image" in service or "build" in service, name


def _built_from_the_one_dockerfile(service: str) -> dict[str, Any]:
    return {"context": ".", "dockerfile": "deploy/images/Dockerfile", "args": {"SERVICE": service}}


def test_each_service_runs_api_consumers_and_relay_from_its_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for svc in SERVICES:
        for part, module in (("api", f"{svc}.entrypoints.http:app_factory"),
                             ("consumers", f"{svc}.entrypoints.consumers"), ("relay", f"{svc}.entrypoints.relay")):
            entry = services[f"{svc}-{part}"]
            assert module in entry["command"], (svc, part)
            assert entry["build"] == _built_from_the_one_dockerfile(svc)
            assert entry["image"] == f"outreach/{svc}:dev"
    assert {"kafka", "postgres", "topics-init", "plusvibe-simulator", "dashboard", "gateway"} <= set(services)
    assert services["dashboard"]["build"] == _built_from_the_one_dockerfile("dashboard")
    assert services["plusvibe-simulator"]["build"] == _built_from_the_one_dockerfile("plusvibe-simulator")
    for svc in SERVICES:
        migrate = services[f"{svc}-migrate"]
        assert migrate["command"] == ["python", "-m", f"{svc}.entrypoints.migrate"]
        assert migrate["build"] == _built_from_the_one_dockerfile(svc)
        assert migrate["image"] == f"outreach/{svc}:dev"
        assert migrate["restart"] == "no"


def test_every_build_and_mounted_path_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
                if volume.split(":")[1].startswith(INIT_DIR) and source.endswith(".sh"):
                    # run, not sourced, by the postgres entrypoint only if executable; either works, keep it run
                    assert (ROOT / source).stat().st_mode & 0o111, source
            else:
                assert source in compose.get("volumes", {}), (name, source)


def test_dependencies_exist_wait_on_health_and_have_no_cycle(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, spec in _deps(service).items():
            assert dep in services, (name, dep)
            assert spec["condition"] in CONDITIONS, (name, dep)
            if spec["condition"] == "service_healthy":
                check = services[dep].get("healthcheck")
                has_own_check = check is not None and not check.get("disable", False)
                assert has_own_check or "build" in services[dep], (name, dep)  # else: the image's HEALTHCHECK
            if spec["condition"] == "service_completed_successfully":
                assert services[dep].get("restart") == "no", dep
    seen: dict[str, int] = {}

    def visit(node: str) -> None:
        assert seen.get(node) != 1, f"dependency cycle through {node}"
        if node in seen:
            return
        seen[node] = 1
        for dep in _deps(services[node]):
            visit(dep)
        seen[node] = 2

    for name in services:
        visit(name)


def test_services_start_after_the_topics_and_their_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for svc in SERVICES:
        assert _deps(services[f"{svc}-migrate"])["postgres"]["condition"] == "service_healthy"
        for part in ("api", "consumers", "relay"):
            deps = _deps(services[f"{svc}-{part}"])
            assert deps["topics-init"]["condition"] == "service_completed_successfully", (svc, part)
            assert deps["postgres"]["condition"] == "service_healthy", (svc, part)
            assert deps[f"{svc}-migrate"]["condition"] == "service_completed_successfully", (svc, part)
            # No process migrates: none waits on another, none needs DDL rights.
            assert services[f"{svc}-{part}"]["environment"]["MIGRATE_ON_START"] == "false", (svc, part)
        for part in ("consumers", "relay"):
            worker = services[f"{svc}-{part}"]
            port = worker["environment"][f"{svc.upper()}_WORKER_HEALTH_PORT"]
            assert f"http://127.0.0.1:{port}/health/live" in " ".join(worker["healthcheck"]["test"])
        assert "/health/ready" in " ".join(services[f"{svc}-api"]["healthcheck"]["test"])


def test_topic_init_creates_every_registry_topic_on_the_services_broker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    init = services["topics-init"]
    assert init["command"][:3] == ["python", "-m", "outreach_ops.topic_admin"]
    bootstrap = init["command"][init["command"].index("--bootstrap") + 1]
    # The job takes its topic list from the registry: no topic is named in the file, none may be filtered.
    assert not any(t.name in json.dumps(init) for t in ALL_TOPICS)
    assert inspect.signature(topic_admin.ensure_topics).parameters["specs"].default is ALL_TOPICS
    created = {t.name for t in topic_admin.new_topics(ALL_TOPICS)}
    assert created == {t.name for t in ALL_TOPICS} | {t.dlq for t in ALL_TOPICS}
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"PLAINTEXT://{bootstrap}" in advertised.split(",")
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for svc in SERVICES:
        env = services[f"{svc}-api"]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
        assert env["KAFKA_TOPIC_PREFIX"] == init["environment"]["KAFKA_TOPIC_PREFIX"]


def test_environment_agrees_with_postgres_and_the_simulator(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pg = services["postgres"]["environment"]
    sim = services["plusvibe-simulator"]["environment"]
    sidecar = (K8S / "components" / "plusvibe-simulator" / "sidecar-nginx.conf").read_text()
    proxy_port = re.search(r"listen (\d+);", sidecar)
    assert proxy_port is not None
    assert services["plusvibe-simulator-proxy"]["network_mode"] == "service:plusvibe-simulator"
    script, roles = _init_roles(compose)
    assert set(roles) == {"outreach_migrator", "outreach_app"}
    assert "GRANT CONNECT, CREATE ON DATABASE" in script and "TO outreach_migrator" in script
    assert re.search(r"GRANT CONNECT ON DATABASE \S+ TO outreach_app;", script)
    assert not re.search(r"GRANT [^;]*CREATE[^;]* TO outreach_app", script)  # DML only, granted per schema
    for svc in SERVICES:
        migrate = services[f"{svc}-migrate"]["environment"]
        db = urlsplit(_default(migrate["DATABASE_URL"]))
        assert (db.scheme, db.hostname, db.path.lstrip("/")) == ("postgresql+asyncpg", "postgres", pg["POSTGRES_DB"])
        assert (db.username, db.password) == ("outreach_migrator", roles["outreach_migrator"])
        assert migrate["DB_RUNTIME_ROLE"] == "outreach_app"
        assert set(migrate) == {"DATABASE_URL", "DB_RUNTIME_ROLE", "LOG_LEVEL"}  # no runtime secrets in the DDL job
        for part in ("api", "consumers", "relay"):
            env = services[f"{svc}-{part}"]["environment"]
            assert set(env) >= APP_ENV, (svc, part)
            db = urlsplit(_default(env["DATABASE_URL"]))
            assert db.scheme == "postgresql+asyncpg" and db.hostname == "postgres"
            assert (db.username, db.password, db.path.lstrip("/")) == (
                migrate["DB_RUNTIME_ROLE"], roles["outreach_app"], pg["POSTGRES_DB"])
            # The init script reads the passwords from the postgres container's env, with the same defaults.
            for variable in ("OUTREACH_MIGRATOR_PASSWORD", "OUTREACH_APP_PASSWORD"):
                assert variable in pg and variable in script
            keys = json.loads(env["API_KEYS"])
            assert keys and all(re.fullmatch(r"[0-9a-f]{64}", k["sha256"]) and k["scopes"] for k in keys)
            base = urlsplit(env["PLUSVIBE_BASE_URL"])
            assert (base.hostname, base.port) == ("plusvibe-simulator", int(proxy_port.group(1)))
            assert env["PLUSVIBE_API_KEY"] == sim["PLUSVIBE_SIM_API_KEY"]
            assert env["UNIBOX_WEBHOOK_SECRET"] == sim["PLUSVIBE_SIM_WEBHOOK_SECRET"]


def test_published_ports_bind_to_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_app_containers_run_read_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name.split("-")[0] in SERVICES or name in {"dashboard", "gateway", "plusvibe-simulator"}:
            assert service.get("read_only") is True, name
            assert "/tmp" in service.get("tmpfs", []), name
