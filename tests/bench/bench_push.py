"""Bulk push: 10,000 ready leads (email_generated with a complete payload, inserted directly) in ONE call to
POST /api/plusvibe/leads/push of the leads API (uvicorn, its own process) → the simulator (its own process,
5 req/s, 50 ms latency) in batches of 100. The floor is 100 batches / 5 req/s = 20 s."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from _common import (
    API_KEY,
    processes,
    run_id,
    run_standalone,
    schemas_and_topics,
    service_env,
    simulator_campaigns,
    spawn_api,
    spawn_simulator,
    wait_http,
)
from _fixtures import insert_leads, lead_rows, ready_variables

LEADS = 10_000
LATENCY_S = 0.05


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    n = int(ctx.get("push_leads", LEADS))
    rid = run_id()
    out: dict[str, Any] = {}
    async with schemas_and_topics(rid, ("leads",)) as (schemas, prefix):
        leads, runs = lead_rows(n, tag=f"{rid}push", status="email_generated", audited=True,
                                variables=ready_variables(steps=3))
        await insert_leads(schemas["leads"], leads, runs)
        with processes(Path(ctx["log_dir"]) / f"push-{rid}") as procs:
            sim = spawn_simulator(procs, rate=5.0)
            await wait_http(f"{sim}/_sim/health", procs)
            campaign = simulator_campaigns(procs)["active"]
            api = spawn_api(procs, "leads", service_env(prefix=prefix, schemas=schemas, sim_url=sim), ctx)
            await wait_http(f"{api}/health/live", procs)
            async with httpx.AsyncClient(base_url=sim, timeout=10, trust_env=False) as control:
                (await control.post("/_sim/faults", json={"path": "/api/v1/*", "delay_s": LATENCY_S,
                                                          "times": None})).raise_for_status()
                await asyncio.sleep(1.2)
                sim_cpu0 = sum(psutil.Process(procs.pid("simulator")).cpu_times()[:2])
                api_cpu0 = sum(psutil.Process(procs.pid("leads-api")).cpu_times()[:2])
                async with httpx.AsyncClient(base_url=api, timeout=300, trust_env=False,
                                             headers={"X-API-Key": API_KEY}) as client:
                    t0 = time.perf_counter()
                    r = await client.post("/api/plusvibe/leads/push",
                                          json={"campaignId": campaign, "leadIds": [str(x["id"]) for x in leads]})
                    elapsed = time.perf_counter() - t0
                body = r.json()
                log = (await control.get("/_sim/requests")).json()["requests"]
                adds = [x for x in log if x["path"] == "/api/v1/lead/add"]
                out.update({
                    "leads": n, "status": r.status_code, "elapsed_s": round(elapsed, 2),
                    "floor_s": round(n / 100 / 5.0, 1),
                    "enrolled": len(body.get("enrolled", [])) if isinstance(body, dict) else None,
                    "batches": body.get("batches") if isinstance(body, dict) else None,
                    "lead_add_requests": len(adds), "http_429": sum(1 for x in log if x["status"] == 429),
                    "simulator_cpu_s": round(sum(psutil.Process(procs.pid("simulator")).cpu_times()[:2]) - sim_cpu0,
                                             1),
                    "leads_api_cpu_s": round(sum(psutil.Process(procs.pid("leads-api")).cpu_times()[:2]) - api_cpu0,
                                             1),
                })
                if r.status_code != 200:
                    out["error"] = str(body)[:300]
    return out


if __name__ == "__main__":
    run_standalone(run)
