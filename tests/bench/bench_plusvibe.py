"""PlusVibe-bound: 500 linked leads through writeback (its consumers + delivery worker and its relay, separate
processes) against the simulator (separate process) with 50 ms latency on every API call and its 5 req/s
limit. Figures from the simulator's request log: /lead/data/update requests/s vs 5, and the 429s.

Setup: the 500 leads are enrolled in the simulator's campaign first (5 × /lead/add of 100, before the
measured window), and writeback's projection knows them as linked (what LeadPushed would have built)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from _common import (
    PY,
    SIM_KEY,
    SIM_WORKSPACE,
    processes,
    raw_dsn,
    run_id,
    run_standalone,
    schemas_and_topics,
    service_env,
    simulator_campaigns,
    spawn_simulator,
    wait_http,
)
from _fixtures import insert_projection, lead_rows
from bench_pipeline import Publisher

LEADS = 500
LATENCY_S = 0.05
UPDATE_PATH = "/api/v1/lead/data/update"


async def enrol_in_simulator(sim: str, campaign: str, leads: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=sim, timeout=30, trust_env=False, headers={"x-api-key": SIM_KEY}) as c:
        for start in range(0, len(leads), 100):
            batch = [{"email": x["email"], "first_name": x["first_name"], "company_name": x["company_name"]}
                     for x in leads[start:start + 100]]
            for _ in range(20):
                r = await c.post("/api/v1/lead/add", json={"workspace_id": SIM_WORKSPACE, "campaign_id": campaign,
                                                             "leads": batch})
                if r.status_code != 429:
                    break
                await asyncio.sleep(1.0)
            r.raise_for_status()
            await asyncio.sleep(0.25)


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    n = int(ctx.get("plusvibe_leads", LEADS))
    rid = run_id()
    out: dict[str, Any] = {}
    async with schemas_and_topics(rid, ("writeback",)) as (schemas, prefix):
        with processes(Path(ctx["log_dir"]) / f"plusvibe-{rid}") as procs:
            sim = spawn_simulator(procs, rate=5.0)
            await wait_http(f"{sim}/_sim/health", procs)
            campaign = simulator_campaigns(procs)["active"]
            leads, _ = lead_rows(n, tag=f"{rid}pv", status="audit_queued", audited=True)
            await enrol_in_simulator(sim, campaign, leads)
            await insert_projection(schemas["writeback"], leads, campaign_id=campaign)
            async with httpx.AsyncClient(base_url=sim, timeout=10, trust_env=False) as control:
                (await control.post("/_sim/faults", json={"path": "/api/v1/*", "delay_s": LATENCY_S,
                                                          "times": None})).raise_for_status()
                await asyncio.sleep(1.5)  # the setup requests leave the simulator's 1 s window
                extra = ({"PLUSVIBE_RATE_SAFETY_FACTOR": str(ctx["plusvibe_safety"])}
                         if ctx.get("plusvibe_safety") else {})
                env = service_env(prefix=prefix, schemas=schemas, sim_url=sim, sim_rate=5.0, extra=extra)
                procs.spawn("writeback-consumers", [PY, "-m", "writeback.entrypoints.consumers"], env)
                procs.spawn("writeback-relay", [PY, "-m", "writeback.entrypoints.relay"], env)
                t0 = time.time()
                async with Publisher(f"{prefix}audits.audit-completed.v1") as pub:
                    for lead in leads:
                        await pub.send(lead)
                conn = await asyncpg.connect(raw_dsn())
                try:
                    deadline = time.monotonic() + 60 + n / 3.0
                    delivered = 0
                    while time.monotonic() < deadline:
                        delivered = await conn.fetchval(
                            f'SELECT count(*) FROM "{schemas["writeback"]}".writeback_attempts '
                            "WHERE status = 'delivered'")
                        if delivered >= n:
                            break
                        procs.check_alive()
                        await asyncio.sleep(0.5)
                    failed = await conn.fetchval(
                        f'SELECT count(*) FROM "{schemas["writeback"]}".writeback_attempts WHERE status = \'failed\'')
                finally:
                    await conn.close()
                done = time.time()
                log = (await control.get("/_sim/requests")).json()
                since = [r for r in log["requests"] if r["at"] >= t0 - 0.5] if log["requests"] and "at" in \
                    log["requests"][0] else log["requests"]
                updates = [r for r in since if r["path"] == UPDATE_PATH]
                ok = [r for r in updates if r["status"] == 200]
                all_429 = [r for r in since if r["status"] == 429]
                first, last = (min(r["mono"] for r in updates), max(r["mono"] for r in updates)) if updates else (0, 0)
                span = max(last - first, 1e-9)
                out.update({
                    "leads": n, "delivered": delivered, "failed": failed, "elapsed_s": round(done - t0, 1),
                    "update_requests": len(updates), "update_200": len(ok),
                    "req_per_s": round((len(updates) - 1) / span, 2) if len(updates) > 1 else 0.0,
                    "ok_req_per_s": round((len(ok) - 1) / span, 2) if len(ok) > 1 else 0.0,
                    "http_429": len(all_429),
                    "all_requests": len(since),
                    "max_in_any_second": log.get("max_in_any_second"),
                    "sim_latency_ms": LATENCY_S * 1000,
                    "client_rate_safety_factor": ctx.get("plusvibe_safety", "default (0.97)"),
                })
    return out


if __name__ == "__main__":
    run_standalone(run)
