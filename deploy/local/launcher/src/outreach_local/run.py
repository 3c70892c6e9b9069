"""`make run`: the whole system on this machine until Ctrl-C.

Starts (or reuses) Kafka, then the simulator, demo sites, every service (API, consumers, relay as separate
processes), the dashboard and the gateway; serves two workspaces (default, connected to PlusVibe through the
Integrations API, and a second client's, not connected yet); seeds demo leads once; prints the URLs and the demo API
key and writes them to .local/endpoints.json. Data lives under .local/run (SQLite by default; PostgreSQL when
DATABASE_URL is set), so running it again reuses what is there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from outreach_local import integration
from outreach_local.seed import seed_demo_leads, seed_second_client_leads
from outreach_local.system import LocalSystem, SystemConfig

ROOT = Path(__file__).resolve().parents[5]


def _kafka(cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "deploy/local/kafka.sh"), cmd], text=True, capture_output=True)


def main() -> None:
    # Overrides exist for the smoke test that runs `make run` beside a developer's own instance.
    state_dir = Path(os.environ.get("OUTREACH_RUN_DIR", ROOT / ".local" / "run"))
    endpoints_file = Path(os.environ.get("OUTREACH_ENDPOINTS_FILE", ROOT / ".local" / "endpoints.json"))
    state_dir.mkdir(parents=True, exist_ok=True)
    started_kafka = False
    if _kafka("status").returncode != 0:
        print("[run] starting Kafka (first time: a few seconds)", flush=True)
        result = subprocess.run(["bash", str(ROOT / "deploy/local/kafka.sh"), "start"])
        if result.returncode != 0:
            sys.exit("[run] Kafka did not start; see .local/kafka/kafka.log")
        started_kafka = True
    bootstrap = _kafka("bootstrap").stdout.strip() or "127.0.0.1:19092"
    key_file = state_dir / "api-key"
    api_key = key_file.read_text().strip() if key_file.exists() else None
    database_url = os.environ.get("DATABASE_URL")
    if os.environ.get("OUTREACH_EPHEMERAL_PORTS") == "1":
        config = SystemConfig.ephemeral(state_dir, bootstrap, database_url, persist_simulator=True,
                                        topic_prefix=os.environ.get("KAFKA_TOPIC_PREFIX", ""))
    else:
        config = SystemConfig(state_dir=state_dir, kafka_bootstrap=bootstrap, database_url=database_url,
                              topic_prefix=os.environ.get("KAFKA_TOPIC_PREFIX", ""))
    config.workspaces = ("default", integration.SECOND_WORKSPACE)
    if api_key:
        config.api_key = api_key
    else:
        key_file.write_text(config.api_key)
        key_file.chmod(0o600)
    secret_file = state_dir / "webhook-secret"
    if secret_file.exists():
        config.webhook_secret = secret_file.read_text().strip()
    else:
        secret_file.write_text(config.webhook_secret)
        secret_file.chmod(0o600)
    system = LocalSystem(config, echo=True)
    try:
        print(f"[run] starting the services (logs in {state_dir}/logs)", flush=True)
        system.start()
        with httpx.Client(base_url=config.gateway_url, headers={"X-API-Key": config.api_key}, timeout=30,
                          trust_env=False) as client:
            created = seed_demo_leads(client)
            integration.prepare_second_client(config.simulator_url)
            created += seed_second_client_leads(client, integration.SECOND_WORKSPACE)
        endpoints = system.endpoints()
        endpoints_file.parent.mkdir(parents=True, exist_ok=True)
        endpoints_file.write_text(json.dumps(endpoints, indent=2) + "\n")
        db = "PostgreSQL (DATABASE_URL)" if config.database_url else "embedded SQLite in .local/run/data"
        print(f"""
[run] the outreach platform is up ({db}; Kafka {bootstrap}).
  Dashboard      {config.gateway_url}/leads#key={config.api_key}
  API            {config.gateway_url}/api/leads   (header X-API-Key: {config.api_key})
  OpenAPI        http://127.0.0.1:{config.service_ports['leads']}/docs (leads; audits, writeback, unibox on the next ports)
  Simulator      {config.simulator_url}/_sim/docs (PlusVibe stand-in; send loop every {config.simulator_tick_s}s)
  Workspaces     default (PlusVibe connected) and {integration.SECOND_WORKSPACE} (not connected yet: pick it in the
                 dashboard's Workspace menu, open Integrations, enter the key {integration.SECOND_PLUSVIBE_KEY} and
                 choose "{integration.SECOND_PLUSVIBE_WORKSPACE_NAME}")
  Demo leads     {created} new this run (seeded once; .local/run keeps them)
  Endpoints file {endpoints_file}
[run] Ctrl-C stops everything this command started.""", flush=True)
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        while not stop:
            time.sleep(0.5)
            for proc in system.procs:
                if proc.popen is not None and proc.popen.poll() is not None:
                    print(f"[run] {proc.name} exited ({proc.popen.returncode}); see {state_dir}/logs/{proc.name}.log",
                          flush=True)
                    stop = True
    finally:
        print("\n[run] stopping", flush=True)
        system.stop()
        if started_kafka:
            _kafka("stop")
        print("[run] stopped", flush=True)


if __name__ == "__main__":
    main()
