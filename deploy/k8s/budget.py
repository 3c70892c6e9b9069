"""The PostgreSQL connection budget of each overlay, computed from its rendered manifests (`kubectl kustomize`).

    .venv/bin/python deploy/k8s/budget.py            # print the tables (also: deploy/k8s/generate.py --budget)
    .venv/bin/python deploy/k8s/budget.py --write    # rewrite them in docs/KUBERNETES-RUNBOOK.md
    .venv/bin/python deploy/k8s/budget.py --check    # exit 1 if the runbook's tables differ

Per Deployment that talks to the database (its container takes the runtime DATABASE_URL from `outreach-secrets`):
- the pool: `<SERVICE>_DB_POOL_SIZE` of its container (deploy/k8s/generate.py writes the kit's figure for the
  process type; servicekit.process.db.pool_size_for). A pool never overflows (servicekit.process.db.create_engine), so it is the
  most the process holds;
- its connections outside the pool: the relay's LISTEN (servicekit.messaging.relay), the PlusVibe client's shared send-slot
  store (plusvibe.slots.PostgresSlots, one connection) where the container has PlusVibe credentials;
- its replicas: `spec.replicas`, or the min/max of the HorizontalPodAutoscaler / KEDA ScaledObject scaling it;
- the rollout surge at max scale: a RollingUpdate starts up to maxSurge (default 25 %, rounded up) new pods
  before old ones stop, and one `kubectl apply` of a new image rolls every Deployment at once; Recreate adds none.
Beside them: each migration Job (alembic's connection and the session check's notifier) and operators (psql, the ops
CLI). PostgreSQL keeps `superuser_reserved_connections` (and `reserved_connections`) of `max_connections` away from
the services' roles. The short-lived connections of a process start (the migrate-wait initContainer, which ends
before the container starts; the session check's notifier, while the pool holds one connection) stay within the pool.
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from servicekit.process.db import RELAY_LISTEN_CONNECTIONS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
RUNBOOK_FILE = ROOT / "docs" / "KUBERNETES-RUNBOOK.md"
OVERLAYS = ("dev", "prod")
RUNBOOK_BEGIN = "<!-- BEGIN GENERATED: connection budget (deploy/k8s/budget.py) -->"
RUNBOOK_END = "<!-- END GENERATED: connection budget -->"

DB_SECRET = "outreach-secrets"  # the runtime DATABASE_URL (base/kustomization.yaml)
POOL_ENV = re.compile(r"^(?:[A-Z][A-Z0-9]*_)?DB_POOL_SIZE$")
PLUSVIBE_ENV = "PLUSVIBE_API_KEY"  # appended by base/plusvibe-credentials.yaml
PLUSVIBE_SLOT_CONNECTIONS = 1  # plusvibe.slots.PostgresSlots: one connection per process
MIGRATION_JOB_CONNECTIONS = 2  # alembic's (servicekit.process.migrate) + the notifier of the session check (servicekit.process.db)
OPERATOR_CONNECTIONS = 5  # psql sessions and the ops CLI (rebuilds run in a service pod with the service's URL)
DEFAULT_MAX_SURGE = "25%"
# PostgreSQL's defaults where the server's command line does not set them.
PG_DEFAULTS = {"max_connections": 100, "superuser_reserved_connections": 3, "reserved_connections": 0}


@dataclass(frozen=True)
class Row:
    deployment: str
    process: str  # app.kubernetes.io/component
    pool: int
    own: int  # connections outside the pool
    own_why: str
    min_replicas: int
    max_replicas: int
    surge: int  # extra pods of a rollout at max scale

    @property
    def per_pod(self) -> int:
        return self.pool + self.own

    @property
    def at_min(self) -> int:
        return self.per_pod * self.min_replicas

    @property
    def at_max(self) -> int:
        return self.per_pod * self.max_replicas

    @property
    def at_rollout(self) -> int:
        return self.per_pod * (self.max_replicas + self.surge)


@dataclass(frozen=True)
class Budget:
    overlay: str
    rows: tuple[Row, ...]
    migration_jobs: int
    server: dict[str, int] | None  # the overlay's own PostgreSQL settings; None: not in the overlay (managed)

    @property
    def at_min(self) -> int:
        return sum(r.at_min for r in self.rows)

    @property
    def at_max(self) -> int:
        return sum(r.at_max for r in self.rows)

    @property
    def at_rollout(self) -> int:
        return sum(r.at_rollout for r in self.rows)

    @property
    def headroom(self) -> int:
        return self.migration_jobs * MIGRATION_JOB_CONNECTIONS + OPERATOR_CONNECTIONS

    @property
    def needed(self) -> int:
        """What the services' roles may hold at once: max scale during a rollout, plus migrations and operators."""
        return self.at_rollout + self.headroom

    @property
    def reserved(self) -> int:
        settings = self.server or PG_DEFAULTS
        return settings["superuser_reserved_connections"] + settings["reserved_connections"]

    @property
    def required_max_connections(self) -> int:
        return self.needed + self.reserved

    @property
    def max_connections(self) -> int | None:
        return None if self.server is None else self.server["max_connections"]

    @property
    def fits(self) -> bool | None:
        return None if self.max_connections is None else self.required_max_connections <= self.max_connections


# --- reading the manifests ------------------------------------------------------------------------------------

def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl (with its built-in kustomize) is needed to render deploy/k8s")
    out = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True,
                         timeout=120, check=False)
    if out.returncode != 0:
        raise SystemExit(f"kustomize build of overlays/{overlay} failed:\n{out.stderr}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def _uses_database(container: dict[str, Any]) -> bool:
    from_secret = any(source.get("secretRef", {}).get("name", "").startswith(DB_SECRET)
                      for source in container.get("envFrom", []))
    return from_secret or any(e["name"] == "DATABASE_URL" for e in container.get("env", []))


def _pool(deployment: str, container: dict[str, Any]) -> int:
    values = [e.get("value") for e in container.get("env", []) if POOL_ENV.match(e["name"])]
    if len(values) != 1 or values[0] is None or not str(values[0]).isdigit():
        raise ValueError(f"{deployment}: container {container['name']!r} uses the database but sets no single "
                         f"literal <SERVICE>_DB_POOL_SIZE (found {values}); run deploy/k8s/generate.py")
    return int(values[0])


def _scalers(docs: Iterable[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(min, max) replicas per Deployment scaled by an HPA or a KEDA ScaledObject (with their defaults)."""
    found: dict[str, tuple[int, int]] = {}
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] == "HorizontalPodAutoscaler" and spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment":
            found[spec["scaleTargetRef"]["name"]] = (int(spec.get("minReplicas", 1)), int(spec["maxReplicas"]))
        elif doc["kind"] == "ScaledObject" and spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment":
            found[spec["scaleTargetRef"]["name"]] = (int(spec.get("minReplicaCount", 0)),
                                                     int(spec.get("maxReplicaCount", 100)))
    return found


def _surge(deployment: dict[str, Any], replicas: int) -> int:
    strategy = deployment["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return 0
    surge = str(strategy.get("rollingUpdate", {}).get("maxSurge", DEFAULT_MAX_SURGE))
    if surge.endswith("%"):
        return math.ceil(replicas * int(surge[:-1]) / 100)
    return int(surge)


def _server_settings(docs: Iterable[dict[str, Any]]) -> dict[str, int] | None:
    """The settings of the overlay's own PostgreSQL (a container of the `postgres` image), from its `-c` options."""
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            if not container.get("image", "").split("/")[-1].startswith("postgres:"):
                continue
            argv = [str(a) for a in container.get("command", []) + container.get("args", [])]
            settings = dict(PG_DEFAULTS)
            for flag, value in itertools.pairwise(argv):
                if flag == "-c" and "=" in value and value.split("=", 1)[0] in settings:
                    name, number = value.split("=", 1)
                    settings[name] = int(number)
            return settings
    return None


def budget(overlay: str, docs: list[dict[str, Any]]) -> Budget:
    scalers = _scalers(docs)
    rows: list[Row] = []
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        name = doc["metadata"]["name"]
        containers = [c for c in doc["spec"]["template"]["spec"]["containers"] if _uses_database(c)]
        if not containers:
            continue
        replicas = int(doc["spec"].get("replicas", 1))
        low, high = scalers.get(name, (replicas, replicas))
        process = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")
        pool = own = 0
        why: list[str] = []
        for container in containers:
            pool += _pool(name, container)
            if process == "relay":
                own += RELAY_LISTEN_CONNECTIONS
                why.append("LISTEN")
            if any(e["name"] == PLUSVIBE_ENV for e in container.get("env", [])):
                own += PLUSVIBE_SLOT_CONNECTIONS
                why.append("PlusVibe slots")
        rows.append(Row(name, process, pool, own, ", ".join(why), low, high, _surge(doc, high)))
    jobs = sum(1 for d in docs if d["kind"] == "Job" and _job_uses_database(d))
    return Budget(overlay, tuple(sorted(rows, key=lambda r: r.deployment)), jobs, _server_settings(docs))


def _job_uses_database(job: dict[str, Any]) -> bool:
    return any(any(e["name"] == "DATABASE_URL" for e in c.get("env", [])) or _uses_database(c)
               for c in job["spec"]["template"]["spec"]["containers"])


# --- the tables ------------------------------------------------------------------------------------------------

def table(b: Budget) -> str:
    lines = [f"**{b.overlay}** (`deploy/k8s/overlays/{b.overlay}`)", "",
             "| Deployment | process | pool | + outside the pool | per pod | replicas min–max | at min | at max "
             "| rollout surge at max | at max during a rollout |",
             "|---|---|---:|---|---:|---|---:|---:|---:|---:|"]
    for r in b.rows:
        own = f"{r.own} ({r.own_why})" if r.own else "0"
        lines.append(f"| {r.deployment} | {r.process} | {r.pool} | {own} | {r.per_pod} | {r.min_replicas}–{r.max_replicas} "
                     f"| {r.at_min} | {r.at_max} | +{r.surge} | {r.at_rollout} |")
    lines.append(f"| **total** | | | | | | **{b.at_min}** | **{b.at_max}** | | **{b.at_rollout}** |")
    lines.append("")
    reserved = "superuser_reserved_connections + reserved_connections"
    lines.append(f"Beside the Deployments: {b.migration_jobs} migration Jobs × {MIGRATION_JOB_CONNECTIONS} + "
                 f"{OPERATOR_CONNECTIONS} for operators = {b.headroom}; the services' roles may need "
                 f"{b.at_rollout} + {b.headroom} = **{b.needed}** at once, so PostgreSQL needs max_connections ≥ "
                 f"{b.needed} + {b.reserved} ({reserved}) = **{b.required_max_connections}**.")
    if b.max_connections is None:
        lines.append("This overlay brings no PostgreSQL: the managed server (or its PgBouncer in session mode, "
                     f"`max_db_connections`) must allow at least {b.required_max_connections}.")
    else:
        spare = b.max_connections - b.required_max_connections
        verdict = f"fits, {spare} to spare" if b.fits else f"**does not fit** ({-spare} short)"
        lines.append(f"Its PostgreSQL runs with max_connections = {b.max_connections}: {verdict}.")
    return "\n".join(lines) + "\n"


def tables(budgets: Iterable[Budget]) -> str:
    return "\n".join(table(b) for b in budgets)


def runbook_with(text: str, generated: str) -> str:
    start, end = text.find(RUNBOOK_BEGIN), text.find(RUNBOOK_END)
    if start < 0 or end < start:
        raise SystemExit(f"{RUNBOOK_FILE}: the markers {RUNBOOK_BEGIN!r} ... {RUNBOOK_END!r} are missing")
    return text[: start + len(RUNBOOK_BEGIN)] + "\n" + generated + text[end:]


def runbook_tables(text: str) -> str:
    """The tables between the runbook's markers, as `tables` would write them."""
    start, end = text.find(RUNBOOK_BEGIN), text.find(RUNBOOK_END)
    if start < 0 or end < start:
        raise SystemExit(f"{RUNBOOK_FILE}: the markers {RUNBOOK_BEGIN!r} ... {RUNBOOK_END!r} are missing")
    return text[start + len(RUNBOOK_BEGIN) + 1: end]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="rewrite the tables in docs/KUBERNETES-RUNBOOK.md")
    group.add_argument("--check", action="store_true", help="exit 1 if the runbook's tables differ")
    args = parser.parse_args(argv)
    generated = tables(budget(overlay, render(overlay)) for overlay in OVERLAYS)
    if args.write:
        RUNBOOK_FILE.write_text(runbook_with(RUNBOOK_FILE.read_text(), generated))
        print(f"[budget] wrote {RUNBOOK_FILE.relative_to(ROOT)}")
    elif args.check:
        if runbook_tables(RUNBOOK_FILE.read_text()) != generated:
            print(f"[budget] stale tables in {RUNBOOK_FILE.relative_to(ROOT)}; run: .venv/bin/python "
                  "deploy/k8s/budget.py --write", file=sys.stderr)
            return 1
    else:
        print(generated, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
