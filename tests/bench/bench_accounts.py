"""PlusVibe limits per account: two workspaces under their own keys push 5,000 leads each at once (the limit is
per account, so they should not slow each other), against one workspace alone; then two workspaces under the
same key (one account: together they must stay within its limit). The simulator runs as its own process at 5 req/s
per key with 50 ms latency and judges the rate from its own request log. Pushes are `/lead/add` batches of 100
through `plusvibe.client.PlusVibeClient`, whose limiter is keyed by the account (the key's fingerprint)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from _common import SIM_KEY, SIM_WORKSPACE, processes, run_standalone, simulator_campaigns, spawn_simulator, wait_http
from pydantic import SecretStr

from plusvibe.client import PlusVibeClient
from plusvibe.limits import reset_registry
from plusvibe.settings import PlusVibeSettings
from plusvibe.simulator.state import max_in_any_second

LEADS = 5_000
RATE = 5.0
LATENCY_S = 0.05
SECOND_KEY = "sim-bench-key-account-b"


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


async def _push(base_url: str, key: str, campaign: str, n: int, tag: str) -> float:
    settings = PlusVibeSettings(base_url=f"{base_url}/api/v1", api_key=SecretStr(key), workspace_id=SIM_WORKSPACE,
                                requests_per_second=RATE, limit_store="process", total_deadline_s=120)
    leads = [{"email": f"{tag}-{i}@accounts.bench.test", "first_name": "Ada"} for i in range(n)]
    async with PlusVibeClient(settings) as client:
        t0 = time.perf_counter()
        await client.add_leads(campaign, leads)
        return time.perf_counter() - t0


async def _phase(ctx: dict[str, Any], name: str, pushes: list[tuple[str, str]], n: int
                 ) -> tuple[list[float], list[dict[str, Any]]]:
    """One phase on a fresh simulator (its `/lead/add` cost grows with the leads it holds: phases must not inherit
    each other's): the pushes run at once; their durations and the simulator's `/lead/add` log."""
    with processes(Path(ctx["log_dir"]) / f"accounts-{name}") as procs:
        sim = spawn_simulator(procs, rate=RATE)
        await wait_http(f"{sim}/_sim/health", procs)
        campaign = simulator_campaigns(procs)["active"]
        async with httpx.AsyncClient(base_url=sim, timeout=10, trust_env=False) as control:
            (await control.post("/_sim/api-keys", json={"key": SECOND_KEY})).raise_for_status()
            (await control.post("/_sim/faults", json={"path": "/api/v1/*", "delay_s": LATENCY_S,
                                                      "times": None})).raise_for_status()
            reset_registry()
            times = await asyncio.gather(*(_push(sim, key, campaign, n, tag) for key, tag in pushes))
            log = (await control.get("/_sim/requests", params={"path": "/api/v1/lead/add"})).json()["requests"]
    return list(times), log


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    n = int(ctx.get("accounts_leads", LEADS))
    (one,), _ = await _phase(ctx, "one", [(SIM_KEY, "one")], n)
    two, two_log = await _phase(ctx, "two-keys", [(SIM_KEY, "a"), (SECOND_KEY, "b")], n)
    same, same_log = await _phase(ctx, "same-key", [(SIM_KEY, "s1"), (SIM_KEY, "s2")], n)
    same_stamps = [r["mono"] for r in same_log if r["key"] == _fingerprint(SIM_KEY)]
    per_key_two: dict[str, list[float]] = defaultdict(list)
    for r in two_log:
        per_key_two[r["key"]].append(r["mono"])
    return {
        "leads_per_workspace": n, "rate_per_key": RATE, "floor_one_s": round(n / 100 / RATE, 1),
        "one_workspace_s": round(one, 2),
        "two_keys_s": [round(t, 2) for t in two], "two_keys_ratio_to_one": round(max(two) / one, 3),
        "two_keys_max_requests_in_any_second_per_key": {k[:6]: max_in_any_second(v) for k, v in per_key_two.items()},
        "same_key_s": [round(t, 2) for t in same], "same_key_ratio_to_one": round(max(same) / one, 3),
        "same_key_max_requests_in_any_second": max_in_any_second(same_stamps),
        "http_429": sum(1 for r in two_log + same_log if r["status"] == 429),
    }


if __name__ == "__main__":
    run_standalone(run)
