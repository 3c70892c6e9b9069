"""`make run` from the README: it starts everything, the printed API answers with the demo leads, the endpoints
file is written, and Ctrl-C stops every process it started. Runs on free ports and its own data directory so
that it can run beside a developer's own instance (SQLite, the embedded default)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from servicekit.testing import new_topic_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
ROOT = Path(__file__).resolve().parents[2]


def test_make_run_starts_the_system_serves_demo_leads_and_stops_on_ctrl_c(tmp_path: Path, kafka_bootstrap: str) -> None:
    endpoints_file = tmp_path / "endpoints.json"
    env = {**os.environ, "OUTREACH_RUN_DIR": str(tmp_path / "run"), "OUTREACH_ENDPOINTS_FILE": str(endpoints_file),
           "OUTREACH_EPHEMERAL_PORTS": "1", "KAFKA_TOPIC_PREFIX": new_topic_prefix("r")}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "outreach_local.run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not endpoints_file.exists():
            assert proc.poll() is None, "make run exited early:\n" + "".join(output) + (proc.stdout.read() if proc.stdout else "")
            assert time.monotonic() < deadline, "make run did not come up"
            time.sleep(0.5)
        endpoints = json.loads(endpoints_file.read_text())
        assert set(endpoints) == {"api", "api_key", "simulator"}
        with httpx.Client(base_url=endpoints["api"], headers={"X-API-Key": endpoints["api_key"]}, trust_env=False,
                          timeout=10) as client:
            leads = client.get("/api/leads").json()
            assert leads["total"] == 6
            assert {"Northwind Bakery", "Cedar Law"} <= {i["companyName"] for i in leads["items"]}
            assert client.get("/leads").status_code == 200  # the dashboard through the same entry point
            assert client.get("/api/plusvibe/integration").json()["keyValid"] is True
            # Two workspaces: default connected, the second client's not yet; each sees only its own leads.
            workspaces = client.get("/api/workspaces").json()
            assert [(w["id"], w["connected"]) for w in workspaces] == [("default", True), ("second-client", False)]
            second = client.get("/api/leads", headers={"X-Workspace": "second-client"}).json()
            assert second["total"] == 2
            assert {i["companyName"] for i in second["items"]}.isdisjoint({i["companyName"] for i in leads["items"]})
            assert client.get("/api/integrations/plusvibe", headers={"X-Workspace": "second-client"}
                              ).json()["connected"] is False
        assert httpx.get(endpoints["simulator"] + "/_sim/health", trust_env=False).status_code == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 15  # simulator, sites, 4 × (api, consumers, relay), dashboard, gateway
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        output.append(out or "")
    text = "".join(output)
    assert "[run] the outreach platform is up" in text
    assert "[run] stopped" in text
    assert proc.returncode == 0
    assert all(not c.is_running() or c.status() == psutil.STATUS_ZOMBIE for c in children)
