"""Read API: GET /api/leads/{id} of the leads API (uvicorn, its own process) vs a bare Starlette + asyncpg
endpoint doing the same SELECTs (uvicorn, its own process), in the same run on the same 10,000 leads:
p50/p99 at a fixed 200 req/s (open model, scheduled on a clock) and peak req/s (closed model)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from _common import (
    API_KEY,
    PY,
    free_port,
    processes,
    raw_dsn,
    run_id,
    run_standalone,
    schemas_and_topics,
    service_env,
    spawn_api,
    summary_ms,
    wait_http,
)
from _fixtures import insert_leads, lead_rows, ready_variables
from _load import Pool, closed_model, open_model

LEADS = 10_000
RATE = 200.0
RATE_SECONDS = 15.0
PEAK_SECONDS = 8.0
PEAK_WORKERS = 32


def _figures(prefix: str, res: Any) -> dict[str, Any]:
    lat = summary_ms(res.latencies_s)
    return {f"{prefix}_p50_ms": lat["p50_ms"], f"{prefix}_p99_ms": lat["p99_ms"], f"{prefix}_max_ms": lat["max_ms"],
            f"{prefix}_non_2xx": res.non_2xx, f"{prefix}_statuses": dict(res.statuses), f"{prefix}_requests": sum(res.statuses.values()) + res.errors}


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    rate_s = float(ctx.get("read_rate_seconds", RATE_SECONDS))
    rid = run_id()
    out: dict[str, Any] = {}
    async with schemas_and_topics(rid, ("leads",), topics=False) as (schemas, prefix):
        leads, runs = lead_rows(LEADS, tag=f"{rid}read", status="email_generated", audited=True,
                                variables=ready_variables(steps=3))
        await insert_leads(schemas["leads"], leads, runs)
        ids = [str(x["id"]) for x in leads]
        rng = random.Random(7)
        picks = [rng.choice(ids) for _ in range(200_000)]
        with processes(Path(ctx["log_dir"]) / f"read-{rid}") as procs:
            api = spawn_api(procs, "leads", service_env(prefix=prefix, schemas=schemas), ctx)
            bare_port = free_port()
            env = service_env(prefix=prefix, schemas={}, extra={
                "BARE_DSN": raw_dsn(), "BARE_SCHEMA": schemas["leads"],
                "PYTHONPATH": str(Path(__file__).parent)})
            procs.spawn("bare", [PY, "-m", "uvicorn", "--factory", "bare_read_app:app_factory", "--host",
                                 "127.0.0.1", "--port", str(bare_port), "--no-access-log", "--log-level", "warning"],
                        env)
            bare = f"http://127.0.0.1:{bare_port}"
            await wait_http(f"{api}/health/live", procs)
            await wait_http(f"{bare}/lead/{ids[0]}", procs)
            targets = {
                "api": (Pool(api, {"X-API-Key": API_KEY}), lambda i: f"/api/leads/{picks[i % len(picks)]}"),
                "bare": (Pool(bare, {}), lambda i: f"/lead/{picks[i % len(picks)]}"),
            }
            for pool, path in targets.values():
                await closed_model(pool, path, workers=4, seconds=2.0)  # warm-up: connections, caches
            for name, (pool, path) in targets.items():
                res = await open_model(pool, path, rate=RATE, seconds=rate_s)
                out.update(_figures(f"{name}_at_{int(RATE)}", res))
            for name, (pool, path) in targets.items():
                res = await closed_model(pool, path, workers=PEAK_WORKERS, seconds=PEAK_SECONDS)
                out[f"{name}_peak_req_per_s"] = round(sum(res.statuses.values()) / res.elapsed_s)
                out[f"{name}_peak_non_2xx"] = res.non_2xx
                out[f"{name}_peak_p50_ms"] = summary_ms(res.latencies_s)["p50_ms"]
                out[f"{name}_peak_statuses"] = dict(res.statuses)
                await pool.close()
            out["peak_ratio_api_to_bare"] = round(out["api_peak_req_per_s"] / max(out["bare_peak_req_per_s"], 1), 3)
    if ctx.get("profiles"):
        out["profiles"] = ctx["profiles"]
    return out


if __name__ == "__main__":
    run_standalone(run)
