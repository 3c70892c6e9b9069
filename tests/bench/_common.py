"""Shared plumbing of the benchmarks: infrastructure addresses, separate service processes, per-run
schemas and topics (always cleaned up), percentiles and the machine description.

Benchmarks PRINT figures; nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
DB_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://outreach:outreach@127.0.0.1:5432/outreach_test")
API_KEY = "bench-key"
SIM_KEY = "sim-bench-key"
SIM_WORKSPACE = "65f3c92d3dbe5dbb35374a9a"  # the simulator's demo seed


def raw_dsn(url: str = DB_URL) -> str:
    """asyncpg's DSN form of the SQLAlchemy URL, with the services' TLS choice (`servicekit.process.db.tls_needless`:
    none on loopback), so ceilings and bare endpoints connect exactly as the services do."""
    from servicekit.process.db import tls_needless

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    if tls_needless(url):
        dsn += ("&" if "?" in dsn else "?") + "sslmode=disable"
    return dsn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN on no data."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"p50_ms": round(pct(ms, 50), 1), "p99_ms": round(pct(ms, 99), 1),
            "max_ms": round(max(ms), 1) if ms else float("nan"),
            "mean_ms": round(statistics.fmean(ms), 1) if ms else float("nan")}


def run_id() -> str:
    return uuid.uuid4().hex[:8]


# ---------------------------------------------------------------------------------------------- processes
@dataclass
class Procs:
    """Separate processes with their logs under `log_dir`; all stopped (their process group) on exit."""

    log_dir: Path
    popens: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    stop_timeout_s: float = 15.0  # a profiled process writes its report on SIGTERM

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        popen = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                 cwd=str(REPO))
        self.popens[name] = popen
        return popen

    def tail(self, name: str, lines: int = 25) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def check_alive(self) -> None:
        for name, popen in self.popens.items():
            if popen.poll() is not None:
                raise RuntimeError(f"{name} exited with {popen.returncode}:\n{self.tail(name)}")

    def pid(self, name: str) -> int:
        return self.popens[name].pid

    def stop(self, timeout_s: float | None = None) -> None:
        timeout_s = timeout_s or self.stop_timeout_s
        for popen in self.popens.values():
            if popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for popen in self.popens.values():
            try:
                popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(5)
        self.popens.clear()


@contextlib.contextmanager
def processes(log_dir: Path) -> Iterator[Procs]:
    procs = Procs(log_dir)
    try:
        yield procs
    finally:
        procs.stop()


def service_env(*, prefix: str, schemas: dict[str, str], sim_url: str | None = None,
                sim_rate: float = 5.0, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a service process, as the launcher builds it (one schema per service)."""
    from servicekit.web.auth import hash_key

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LEADS_", "AUDITS_", "WRITEBACK_", "UNIBOX_", "PLUSVIBE_"))}
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "KAFKA_TOPIC_PREFIX": prefix,
        "DATABASE_URL": DB_URL,
        "LOG_LEVEL": "WARNING",
        "API_KEYS": json.dumps([{"name": "bench", "sha256": hash_key(API_KEY), "scopes": ["*"]}]),
        "PYTHONUNBUFFERED": "1",
        "PLUSVIBE_REQUESTS_PER_SECOND": str(sim_rate),
    })
    # The benchmarks measure the services, not the inbound rate limit: one bench key sends far more than 100/s.
    env.update({f"{svc}_RATE_LIMIT_PER_S": "0" for svc in ("LEADS", "AUDITS", "WRITEBACK", "UNIBOX")})
    for svc, schema in schemas.items():
        env[f"{svc.upper()}_DB_SCHEMA"] = schema
    if sim_url:
        env.update({"PLUSVIBE_BASE_URL": f"{sim_url}/api/v1", "PLUSVIBE_API_KEY": SIM_KEY,
                    "PLUSVIBE_WORKSPACE_ID": SIM_WORKSPACE,
                    # The simulator stores custom variables verbatim (as `make run` tells the leads service).
                    "LEADS_PLUSVIBE_CUSTOM_STORAGE": "verbatim"})
    env.update(extra or {})
    return env


def profiled_argv(name: str, argv: list[str], ctx: dict[str, Any]) -> list[str]:
    """`argv` (python -m ...) under pyinstrument when ctx["profile"] names the process; the text report is
    written to the log dir when the process stops (SIGTERM → graceful exit)."""
    if name not in str(ctx.get("profile", "")).split(","):
        return argv
    report = Path(ctx["log_dir"]) / f"profile-{name}-{len(ctx.get('profiles', []))}.txt"
    ctx.setdefault("profiles", []).append(str(report))
    assert argv[1] == "-m"
    return [argv[0], str(Path(__file__).parent / "_profile_run.py"), str(report), *argv[1:]]


def spawn_api(procs: Procs, service: str, env: dict[str, str], ctx: dict[str, Any] | None = None) -> str:
    """uvicorn for a service API as its own process; returns its base URL."""
    port = free_port()
    argv = [PY, "-m", "uvicorn", "--factory", f"{service}.entrypoints.http:app_factory", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--log-level", "warning"]
    procs.spawn(f"{service}-api", profiled_argv(f"{service}-api", argv, ctx or {}), env)
    if ctx and ctx.get("profile"):
        procs.stop_timeout_s = 120.0
    return f"http://127.0.0.1:{port}"


def spawn_simulator(procs: Procs, *, rate: float = 5.0) -> str:
    port = free_port()
    procs.spawn("simulator", [PY, "-m", "plusvibe.simulator", "--port", str(port), "--seed", "demo",
                              "--api-key", SIM_KEY, "--rate", str(rate)], service_env(prefix="", schemas={}))
    return f"http://127.0.0.1:{port}"


def simulator_campaigns(procs: Procs) -> dict[str, str]:
    """The demo seed's campaign ids (the simulator prints the seed as its first line)."""
    for line in (procs.log_dir / "simulator.log").read_text().splitlines():
        with contextlib.suppress(ValueError):
            seed = json.loads(line)
            if isinstance(seed, dict) and "campaigns" in seed:
                return dict(seed["campaigns"])
    raise RuntimeError("simulator seed not found in its log")


async def wait_http(url: str, procs: Procs, *, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while True:
            procs.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not up after {timeout_s}s")
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------------------------------------- schemas, topics
async def migrate(service: str, schema: str) -> None:
    """Creates the schema and runs the service's own migrations (what its processes do at start)."""
    from servicekit.process.db import ensure_schema

    await ensure_schema(DB_URL, schema)
    if service == "leads":
        from leads.bootstrap import bootstrap as leads_bootstrap
        from leads.settings import LeadsSettings

        runtime: Any = leads_bootstrap(LeadsSettings(database_url=DB_URL, db_schema=schema)).runtime
    elif service == "writeback":
        from writeback.bootstrap import bootstrap as wb_bootstrap
        from writeback.settings import WritebackSettings

        runtime = wb_bootstrap(WritebackSettings(database_url=DB_URL, db_schema=schema)).runtime
    else:
        raise ValueError(service)
    try:
        await runtime.migrate()
    finally:
        await runtime.dispose()


@contextlib.asynccontextmanager
async def schemas_and_topics(rid: str, services: tuple[str, ...], *, topics: bool = True
                             ) -> AsyncIterator[tuple[dict[str, str], str]]:
    """Fresh schemas `bench_<rid>_<svc>` (migrated) and topics `b<rid>.*`; dropped/deleted afterwards."""
    from servicekit.process.db import drop_schema

    prefix = f"b{rid}."
    schemas = {svc: f"bench_{rid}_{svc}" for svc in services}
    try:
        if topics:
            from contracts.topics import ALL_TOPICS
            from outreach_ops.topic_admin import ensure_topics

            await ensure_topics(KAFKA, ALL_TOPICS, prefix=prefix)
        for svc, schema in schemas.items():
            await migrate(svc, schema)
        yield schemas, prefix
    finally:
        for schema in schemas.values():
            with contextlib.suppress(Exception):
                await drop_schema(DB_URL, schema)
        if topics:
            # The run's consumer groups are left to the broker: their offsets go with the deleted topics
            # and an empty group expires (aiokafka's admin client cannot delete groups).
            await delete_topics(prefix)


async def delete_topics(prefix: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.delete_topics(names), 30)
        return len(names)
    finally:
        await admin.close()


# ---------------------------------------------------------------------------------------------- machine
def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"nproc": str(os.cpu_count()), "memory": mem, "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "loadavg": load}


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_standalone(run: Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    """`python tests/bench/bench_<name>.py key=value ...`: one benchmark alone, its figures printed as JSON (the
    keys as `run_all.py --set` takes them; logs in a new temporary directory)."""
    import tempfile

    ctx: dict[str, Any] = {"log_dir": tempfile.mkdtemp(prefix="bench-")}
    for arg in sys.argv[1:]:
        key, value = arg.split("=", 1)
        ctx[key] = value
    print(json.dumps(asyncio.run(run(ctx)), indent=1, default=str))
