"""Every line a service's API process writes is JSON — uvicorn's own start-up, access and shutdown lines included —
and a request's access line carries the trace id of the request, as the processes run in the images
(`uvicorn --factory ...`, access log on)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

APPS = {
    "leads": "leads.entrypoints.http:app_factory",
    "audits": "audits.entrypoints.http:app_factory",
    "writeback": "writeback.entrypoints.http:app_factory",
    "unibox": "unibox.entrypoints.http:app_factory",
    "dashboard": "dashboard.app:app_factory",
}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_line_of_an_api_process_is_json_with_the_request_trace(service: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",) and not k.startswith("OTEL_")}
    # The embedded default (SQLite under the data dir); the broker is never needed to serve (readiness: database).
    env.update(OUTREACH_DATA_DIR=str(tmp_path), KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9", LOG_LEVEL="INFO",
               PYTHONUNBUFFERED="1", AUDITS_ALLOWLIST="")
    out = tmp_path / "out.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", APPS[service], "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
                time.sleep(0.2)
            r = httpx.get(f"http://127.0.0.1:{port}/no-such-page",
                          headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
            assert r.status_code in (401, 404)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    lines = out.read_text().splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{service}: a log line is not JSON: {line!r}")
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers, loggers  # uvicorn's lines are among them
    assert all(r["service"] == service for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access" and "/no-such-page" in r["msg"]]
    assert [r.get("trace_id") for r in access] == [TRACE]
    assert any(r["msg"].startswith("Finished server process") for r in records)  # shutdown is JSON too
