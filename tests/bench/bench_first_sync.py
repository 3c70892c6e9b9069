"""First sync from PlusVibe: 2,000 leads in the simulator's workspace (its own process, 5 req/s, 50 ms latency on every
API call, as the push benchmark has it) synced into an empty leads schema by POST /api/plusvibe/sync of the leads API
(uvicorn, its own process, real PostgreSQL; the sync runs in the API process), polled with GET until done. Beside it,
the second sync of the same leads (everything `unchanged`: what a re-run costs). 3 repetitions, each on a fresh
schema against the same simulator.

The floor is PlusVibe's rate limit: 21 page requests (20 full pages and the empty one that ends the walk) spaced
1/(5 × 0.93) s apart by the client = 4.3 s, plus the latency of the last."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from _common import (
    API_KEY,
    SIM_KEY,
    SIM_WORKSPACE,
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

LEADS = 2_000
REPEATS = 3
LATENCY_S = 0.05
PAGE = "/api/v1/lead/workspace-leads"


async def _seed(sim: str, campaigns: dict[str, str], n: int) -> None:
    """The leads, through PlusVibe's own `/lead/add` (100 per call, at the account's 5 req/s): three quarters in the
    active campaign, a quarter in the paused one."""
    from plusvibe.client import PlusVibeClient
    from plusvibe.models import LeadIn
    from plusvibe.settings import PlusVibeSettings

    settings = PlusVibeSettings(base_url=f"{sim}/api/v1", api_key=SIM_KEY, workspace_id=SIM_WORKSPACE,
                                requests_per_second=5.0, limit_store="process", total_deadline_s=60)
    leads = [LeadIn(email=f"lead{i:05d}@company{i}.test", first_name=f"First{i}", last_name=f"Last{i}",
                    company_name=f"Company {i}", company_website=f"https://company{i}.test") for i in range(n)]
    split = n * 3 // 4
    async with PlusVibeClient(settings) as client:
        await client.add_leads(campaigns["active"], leads[:split])
        await client.add_leads(campaigns["paused"], leads[split:])


async def _page_requests(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await control.get("/_sim/requests", params={"path": PAGE})).json()["requests"])


async def _sync_once(client: httpx.AsyncClient) -> tuple[dict[str, Any], float]:
    t0 = time.perf_counter()
    r = await client.post("/api/plusvibe/sync")
    r.raise_for_status()
    body = r.json()
    while body["status"] == "running":
        await asyncio.sleep(0.05)
        body = (await client.get("/api/plusvibe/sync")).json()
    return body, time.perf_counter() - t0


async def _repetition(ctx: dict[str, Any], sim: str, control: httpx.AsyncClient, procs_dir: Path) -> dict[str, Any]:
    rid = run_id()
    async with schemas_and_topics(rid, ("leads",)) as (schemas, prefix):
        with processes(procs_dir / f"first-sync-{rid}") as procs:
            api = spawn_api(procs, "leads", service_env(prefix=prefix, schemas=schemas, sim_url=sim), ctx)
            await wait_http(f"{api}/health/live", procs)
            await asyncio.sleep(1.2)  # the simulator's one-second window forgets earlier calls
            async with httpx.AsyncClient(base_url=api, timeout=60, trust_env=False,
                                         headers={"X-API-Key": API_KEY}) as client:
                before = len(await _page_requests(control))
                cpu0 = sum(psutil.Process(procs.pid("leads-api")).cpu_times()[:2])
                first, first_s = await _sync_once(client)
                cpu_s = sum(psutil.Process(procs.pid("leads-api")).cpu_times()[:2]) - cpu0
                requests = (await _page_requests(control))[before:]
                again, again_s = await _sync_once(client)
    return {
        "status": first["status"], "elapsed_s": round(first_s, 2), "pages": first["pagesDone"],
        "seen": first["seen"], "created": first["created"], "page_requests": len(requests),
        "http_429": sum(1 for x in requests if x["status"] == 429),
        "leads_per_s": round(first["seen"] / first_s, 1), "leads_api_cpu_s": round(cpu_s, 2),
        "resync_status": again["status"], "resync_s": round(again_s, 2), "resync_unchanged": again["unchanged"],
        "resync_created": again["created"],
    }


def _spread(values: list[float]) -> dict[str, float]:
    median = statistics.median(values)
    return {"min": round(min(values), 2), "median": round(median, 2), "max": round(max(values), 2),
            "spread_pct": round((max(values) - min(values)) / median * 100, 1) if median else float("nan")}


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    n = int(ctx.get("first_sync_leads", LEADS))
    repeats = int(ctx.get("first_sync_repeats", REPEATS))
    out: dict[str, Any] = {"leads": n, "repeats": repeats, "latency_s": LATENCY_S,
                           "floor_s": round((n // 100) / (5.0 * 0.93) + LATENCY_S, 2)}  # 21 slots: 20 gaps
    with processes(Path(ctx["log_dir"]) / "first-sync-simulator") as sim_procs:
        sim = spawn_simulator(sim_procs, rate=5.0)
        await wait_http(f"{sim}/_sim/health", sim_procs)
        await _seed(sim, simulator_campaigns(sim_procs), n)
        async with httpx.AsyncClient(base_url=sim, timeout=10, trust_env=False) as control:
            (await control.post("/_sim/faults", json={"path": "/api/v1/*", "delay_s": LATENCY_S,
                                                      "times": None})).raise_for_status()
            runs = [await _repetition(ctx, sim, control, Path(ctx["log_dir"])) for _ in range(repeats)]
    out["runs"] = runs
    out["elapsed_s"] = _spread([r["elapsed_s"] for r in runs])
    out["leads_per_s"] = _spread([r["leads_per_s"] for r in runs])
    out["resync_s"] = _spread([r["resync_s"] for r in runs])
    return out


if __name__ == "__main__":
    run_standalone(run)
