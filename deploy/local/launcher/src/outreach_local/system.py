"""Starts the whole platform on one machine as separate processes: the PlusVibe simulator, demo websites,
every service's API, consumers and relay, the dashboard and the gateway (the single entry point). Used by
`make run` and by the end-to-end tests. Kafka and PostgreSQL are started by deploy/local/*.sh beforehand.

With `SystemConfig.image_tag` set, every service process, the simulator and the dashboard run instead as
containers of the project's images (`localhost/outreach-<image>:<tag>`, built by deploy/images/build.sh) with
podman: on the host's network (the broker, the database, the demo sites and the gateway stay on loopback),
read-only root filesystem with a tmpfs /tmp, as the images' non-root user.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from outreach_local import integration
from outreach_local.demo_sites import SITES, plan_ports, txt_records
from plusvibe.credentials import new_kek
from servicekit.web.auth import hash_key

SERVICES = ("leads", "audits", "writeback", "unibox")
SIM_WORKSPACE = "65f3c92d3dbe5dbb35374a9a"  # the simulator's demo seed
# Shares of the PlusVibe account's 5 req/s per process that calls PlusVibe (together ≤ 1).


# Below Linux's ephemeral range (32768+), so an outgoing connection cannot take a port between our check and
# the child process binding it.
_PORT_RANGE = (20000, 32000)
_taken: set[int] = set()


def free_port() -> int:
    import random

    from outreach_local.demo_sites import port_free

    while True:
        port = random.randrange(*_PORT_RANGE)
        if port not in _taken and port_free(port):
            _taken.add(port)
            return port


@dataclass
class SystemConfig:
    state_dir: Path
    kafka_bootstrap: str
    database_url: str | None = None
    topic_prefix: str = ""
    api_key: str = field(default_factory=lambda: "demo-" + secrets.token_urlsafe(18))
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    simulator_api_key: str = "sim-api-key"
    simulator_tick_s: float | None = 5.0
    simulator_rate: float = 5.0
    # How the simulator stores custom variables; the leads service is told the same (docs/TEMPLATES.md §4), as
    # an operator who knows their workspace configures it. "auto" leaves leads to detect it.
    custom_storage: str = "verbatim"
    persist_simulator: bool = True
    gateway_port: int = 8000
    simulator_port: int = 8931
    service_ports: dict[str, int] = field(default_factory=lambda: {
        "leads": 8101, "audits": 8102, "writeback": 8103, "unibox": 8104, "dashboard": 8105})
    demo_sites_base_port: int = 8201
    # Each consumers/relay process answers /health/live and /health/ready here (2 ports per service).
    worker_health_base_port: int = 8301
    log_level: str = "INFO"
    extra_env: dict[str, str] = field(default_factory=dict)
    image_tag: str | None = None  # run the service processes as containers of these images (see module doc)
    # The platform workspaces served (`WORKSPACES`, docs/WORKSPACES.md); `make run` adds a second client's.
    workspaces: tuple[str, ...] = ("default",)

    @classmethod
    def ephemeral(cls, state_dir: Path, kafka_bootstrap: str, database_url: str | None, **overrides: object
                  ) -> SystemConfig:
        """Free ports and a fresh topic prefix: for tests that run beside `make run`."""
        values: dict[str, object] = {
            "state_dir": state_dir, "kafka_bootstrap": kafka_bootstrap, "database_url": database_url,
            "topic_prefix": f"e{uuid.uuid4().hex[:8]}.", "gateway_port": free_port(),
            "simulator_port": free_port(),
            "service_ports": {name: free_port() for name in (*SERVICES, "dashboard")},
            "demo_sites_base_port": _free_range(len(SITES) * 2),
            "worker_health_base_port": _free_range(len(SERVICES) * 2),
            "persist_simulator": False,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    def worker_health_port(self, service: str, role: str) -> int:
        return self.worker_health_base_port + 2 * SERVICES.index(service) + (0 if role == "consumers" else 1)


def _free_range(count: int) -> int:
    import random

    from outreach_local.demo_sites import port_free

    while True:
        port = random.randrange(_PORT_RANGE[0], _PORT_RANGE[1] - count)
        ports = range(port, port + count)
        if not _taken.intersection(ports) and all(port_free(p) for p in ports):
            _taken.update(ports)
            return port


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    container: str | None = None  # the podman container's name, when it runs as one


class LocalSystem:
    """`with LocalSystem(config) as system: ...` — every process is stopped on exit."""

    def __init__(self, config: SystemConfig, *, echo: bool = False) -> None:
        self.config = config
        self.echo = echo
        self.procs: list[Proc] = []
        self.logs = config.state_dir / "logs"
        self.spawned_at: dict[str, float] = {}
        self.integration: dict[str, Any] = {}

    # ------------------------------------------------------------------ environment
    def _own_env(self) -> dict[str, str]:
        """What the launcher sets for every process (a container gets only this, not the host's environment)."""
        c = self.config
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": c.kafka_bootstrap,
            "KAFKA_TOPIC_PREFIX": c.topic_prefix,
            "OUTREACH_DATA_DIR": str(c.state_dir / "data"),
            "LOG_LEVEL": c.log_level,
            "API_KEYS": json.dumps([{"name": "demo", "sha256": hash_key(c.api_key), "scopes": ["*"],
                                     "workspaces": ["*"]}]),
            "WORKSPACES": ",".join(c.workspaces),
            "PLUSVIBE_BASE_URL": f"{c.simulator_url}/api/v1",
            "PLUSVIBE_API_KEY": c.simulator_api_key,
            "PLUSVIBE_WORKSPACE_ID": SIM_WORKSPACE,
            "PLUSVIBE_REQUESTS_PER_SECOND": str(c.simulator_rate),
            "PLUSVIBE_KEK": self._kek(),
            "LEADS_PLUSVIBE_CUSTOM_STORAGE": c.custom_storage,
            # Connecting the integration registers the workspace's webhook here (the simulator registers none).
            "LEADS_WEBHOOK_BASE_URL": c.gateway_url,
            "PYTHONUNBUFFERED": "1",
        }
        if c.database_url:
            env["DATABASE_URL"] = c.database_url
        env.update(c.extra_env)
        return env

    def _kek(self) -> str:
        """The key-encryption key of this state directory (docs/INTEGRATIONS.md): made once, kept beside the data,
        so keys connected under Integrations still open after a restart."""
        path = self.config.state_dir / "plusvibe-kek"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(new_kek())
        return path.read_text().strip()

    def _common_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADS_", "AUDITS_", "WRITEBACK_", "UNIBOX_",
                                                                           "PLUSVIBE_"))}
        if not self.config.database_url:
            env.pop("DATABASE_URL", None)
        env.update(self._own_env())
        return env

    def _audits_env(self) -> dict[str, str]:
        c = self.config
        plan = plan_ports(c.demo_sites_base_port)
        # https None = the site has no https (the audit goes straight to http instead of probing 443).
        ports = {s.name: {"http": s.http_port, "https": s.https_port} for s in plan}
        return {
            "AUDITS_PUBLIC_BASE_URL": c.gateway_url,
            "AUDITS_RESOLVER": "static",
            "AUDITS_STATIC_HOSTS": json.dumps({s.name: "127.0.0.1" for s in plan}),
            "AUDITS_STATIC_TXT": json.dumps(txt_records()),
            # One entry per (name, port) the demo sites listen on: a port-less entry is refused by the audits
            # service (it would let a site redirect the audit to any loopback port).
            "AUDITS_ALLOWLIST": ",".join(f"{name}@127.0.0.1:{port}" for name, p in ports.items()
                                         for port in p.values() if port is not None),
            "AUDITS_SITE_PORTS": json.dumps(ports),
            "AUDITS_CA_FILE": str(c.state_dir / "demo-ca.pem"),
            "AUDITS_TOTAL_BUDGET_S": "15",
        }

    def _service_env(self, service: str, role: str, *, own_only: bool = False) -> dict[str, str]:
        env = self._own_env() if own_only else self._common_env()
        if service == "audits":
            env.update(self._audits_env())
        if service == "unibox":
            env["UNIBOX_WEBHOOK_SECRET"] = self.config.webhook_secret
        if role in ("consumers", "relay"):
            env[f"{service.upper()}_WORKER_HEALTH_PORT"] = str(self.config.worker_health_port(service, role))
        return env

    # ------------------------------------------------------------------ processes
    def _plan(self) -> tuple[list[Proc], list[Proc], list[Proc]]:
        """(first wave: simulator + sites + APIs, second wave: workers, last: dashboard + gateway)."""
        c = self.config
        py = sys.executable
        sim_argv = [py, "-m", "plusvibe.simulator", "--port", str(c.simulator_port), "--seed", "demo",
                    "--rate", str(c.simulator_rate),
                    f"--custom-storage={'verbatim' if c.custom_storage == 'auto' else c.custom_storage}"]
        # Its key and webhook secret through the environment: a command line is visible to every user of the
        # machine (and a secret starting with "-" would read as an option).
        sim_secrets = {"PLUSVIBE_SIM_API_KEY": c.simulator_api_key, "PLUSVIBE_SIM_WEBHOOK_SECRET": c.webhook_secret}
        if c.simulator_tick_s:
            sim_argv += ["--tick-seconds", str(c.simulator_tick_s)]
        if c.persist_simulator:
            sim_argv += ["--persist", str(c.state_dir / "simulator.json")]
        first = [
            self._proc("simulator", "plusvibe-simulator", sim_argv, None, f"{c.simulator_url}/_sim/health",
                       extra_env=sim_secrets),
            Proc("demo-sites", [py, "-m", "outreach_local.demo_sites", "--state-dir", str(c.state_dir),
                                "--base-port", str(c.demo_sites_base_port)], self._common_env()),
        ]
        workers: list[Proc] = []
        for service in SERVICES:
            port = c.service_ports[service]
            first.append(self._proc(f"{service}-api", service, [
                py, "-m", "uvicorn", "--factory", f"{service}.entrypoints.http:app_factory", "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log", "--log-level", "warning"], (service, "api"),
                f"http://127.0.0.1:{port}/health/live"))
            for role in ("consumers", "relay"):
                health = f"http://127.0.0.1:{c.worker_health_port(service, role)}/health/ready"
                workers.append(self._proc(f"{service}-{role}", service, [py, "-m", f"{service}.entrypoints.{role}"],
                                          (service, role), health))
        dash_port = c.service_ports["dashboard"]
        upstreams = {s: f"http://127.0.0.1:{c.service_ports[s]}" for s in (*SERVICES, "dashboard")}
        last = [
            self._proc("dashboard", "dashboard", [
                py, "-m", "uvicorn", "--factory", "dashboard.app:app_factory", "--host", "127.0.0.1", "--port",
                str(dash_port), "--no-access-log", "--log-level", "warning"], None,
                f"http://127.0.0.1:{dash_port}/health/live"),
            Proc("gateway", [py, "-m", "outreach_local.gateway", "--port", str(c.gateway_port), "--upstreams",
                             json.dumps(upstreams)], self._common_env(), f"{c.gateway_url}/health/live"),
        ]
        return first, workers, last

    def _proc(self, name: str, image: str, argv: list[str], service_role: tuple[str, str] | None,
              health_url: str, *, extra_env: dict[str, str] | None = None) -> Proc:
        """A process of the system: `argv` on the host, or, with `image_tag`, the same command in a container of
        the image (`argv[0]`, the host's interpreter, becomes the image's)."""
        env = {**(self._service_env(*service_role) if service_role else self._common_env()), **(extra_env or {})}
        tag = self.config.image_tag
        if tag is None:
            return Proc(name, argv, env, health_url)
        own = {**(self._service_env(*service_role, own_only=True) if service_role else self._own_env()),
               **(extra_env or {})}
        own["OUTREACH_DATA_DIR"] = "/tmp/data"  # the root filesystem is read-only; /tmp is the container's tmpfs
        mounts: list[str] = []
        ca_file = own.get("AUDITS_CA_FILE")
        if ca_file:  # the demo sites' CA, mounted alone (the state dir is private to this user)
            own["AUDITS_CA_FILE"] = "/etc/outreach/demo-ca.pem"
            mounts = ["--volume", f"{ca_file}:/etc/outreach/demo-ca.pem:ro"]
        container = f"outreach-{self.config.topic_prefix.strip('.') or 'local'}-{name}"
        # The environment goes in a file only this user reads: on the command line, the API key hashes, the
        # PlusVibe key and the webhook secret would show in every process listing of the machine.
        env_file = self.config.state_dir / "containers" / f"{name}.env"
        env_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        env_file.touch(mode=0o600)
        env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(own.items())))
        # Global flags for this kind of machine (deploy/images/podman-env.sh says why): runc, rlimits below the
        # VM's hard limits; the launcher probes health itself (podman's timers need systemd).
        podman = ["podman", "--runtime", "runc", "run", "--rm", "--name", container, "--network", "host",
                  "--read-only", "--tmpfs", "/tmp", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
                  "--no-healthcheck", "--stop-timeout", "10", *mounts, "--env-file", str(env_file),
                  f"localhost/outreach-{image}:{tag}", "python", *argv[1:]]
        return Proc(name, podman, env, health_url, container=container)

    def _stop_containers(self, procs: list[Proc]) -> None:
        names = [p.container for p in procs if p.container]
        if names:  # SIGTERM, then SIGKILL after the stop timeout; `--rm` removes them
            subprocess.run(["podman", "--runtime", "runc", "stop", "--ignore", "--time", "10", *names],
                           capture_output=True, check=False, timeout=60)

    def _spawn(self, proc: Proc) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{proc.name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc.popen = subprocess.Popen(proc.argv, env=proc.env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        self.procs.append(proc)
        self.spawned_at[proc.name] = time.time()
        if self.echo:
            print(f"[run] started {proc.name} (pid {proc.popen.pid})", flush=True)

    def _wait_healthy(self, procs: list[Proc], timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        pending = [p for p in procs if p.health_url]
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while pending:
                for proc in list(pending):
                    assert proc.popen is not None and proc.health_url is not None
                    if proc.popen.poll() is not None:
                        raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see "
                                           f"{self.logs / (proc.name + '.log')}\n{self.tail(proc.name)}")
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(proc.health_url).status_code < 500:
                            pending.remove(proc)
                            if self.echo:
                                print(f"[run] {proc.name} is up", flush=True)
                if pending and time.monotonic() > deadline:
                    names = ", ".join(p.name for p in pending)
                    raise RuntimeError(f"not healthy after {timeout_s}s: {names}\n" +
                                       "\n".join(self.tail(p.name) for p in pending))
                time.sleep(0.2)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {name} ---\n" + "\n".join(text)

    def start(self) -> Self:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "outreach_ops.topic_admin", "--bootstrap", self.config.kafka_bootstrap,
                        "--prefix", self.config.topic_prefix], check=True, capture_output=not self.echo)
        first, workers, last = self._plan()
        try:
            # The demo sites first: they write the CA file the audits processes read at start.
            for proc in sorted(first, key=lambda p: p.name != "demo-sites"):
                self._spawn(proc)
                if proc.name == "demo-sites":
                    self._wait_until_sites_ready()
            self._wait_healthy(first)  # APIs have migrated their schemas: workers start on a ready schema
            for proc in workers:
                self._spawn(proc)
            for proc in last:
                self._spawn(proc)
            self._wait_healthy([*workers, *last])  # workers: their loops run, database and broker answer
            connecting = time.monotonic()
            self.integration = integration.connect(integration.DemoIntegration(
                gateway_url=self.config.gateway_url, api_key=self.config.api_key,
                simulator_url=self.config.simulator_url, plusvibe_key=self.config.simulator_api_key,
                plusvibe_workspace_id=SIM_WORKSPACE))
            if self.echo:
                print(f"[run] PlusVibe integration connected in {time.monotonic() - connecting:.1f}s; webhook at "
                      f"{self.integration['webhookUrl']}", flush=True)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_sites_ready(self, timeout_s: float = 30.0) -> None:
        marker = self.config.state_dir / "demo-sites.json"
        deadline = time.monotonic() + timeout_s
        while not marker.exists() or marker.stat().st_mtime < self.spawned_at["demo-sites"] - 1:
            if time.monotonic() > deadline:
                raise RuntimeError("demo sites did not start\n" + self.tail("demo-sites"))
            time.sleep(0.1)

    def process(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def stop_process(self, name: str, timeout_s: float = 30.0) -> None:
        """Gracefully stops one process (a consumer leaves its group on SIGTERM)."""
        proc = self.process(name)
        assert proc.popen is not None
        self._stop_containers([proc])
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGTERM)
            proc.popen.wait(timeout_s)

    def start_process(self, name: str) -> None:
        """Starts a stopped process again with the same command and environment."""
        proc = self.process(name)
        self.procs.remove(proc)
        proc.popen = None
        self._spawn(proc)

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop_containers(self.procs)
        for proc in reversed(self.procs):
            if proc.popen is not None and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs:
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(5)
        self.procs.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def endpoints(self) -> dict[str, str]:
        return {"api": self.config.gateway_url, "api_key": self.config.api_key, "simulator": self.config.simulator_url}


@contextlib.contextmanager
def running_system(config: SystemConfig, *, echo: bool = False) -> Iterator[LocalSystem]:
    with LocalSystem(config, echo=echo) as system:
        yield system
