"""CSV import: a 10,000-row file (company, website, names, email, title, phone, one custom column) uploaded to the
leads API (uvicorn, its own process) and imported with dedupe `skip`, polled for progress until done; 3 repetitions,
each a new file into the same workspace (so the later ones also look up duplicates among the leads already there).

Ceiling, measured in the same run: the same number of lead rows inserted straight into the leads table in one
transaction (multi-row INSERTs, no history, no events, no validation) — what the database alone takes for the rows."""

from __future__ import annotations

import asyncio
import csv
import io
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from _common import API_KEY, processes, run_id, run_standalone, schemas_and_topics, service_env, spawn_api, wait_http
from _fixtures import insert_leads, lead_rows

ROWS = 10_000
REPEATS = 3


def _file(n: int, tag: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Company", "Website", "First Name", "Last Name", "Email", "Job Title", "Phone", "Industry"])
    for i in range(n):
        writer.writerow([f"{tag} Shop {i}", f"shop{i}-{tag}.test", "Ada", f"Baker {i}", f"ada{i}@shop{i}-{tag}.test",
                         "Owner", f"+1 555 {i:07d}", "retail"])
    return ("\ufeff" + out.getvalue()).encode()


async def _import_once(client: httpx.AsyncClient, content: bytes) -> dict[str, Any]:
    t0 = time.perf_counter()
    up = await client.post("/api/leads/imports/uploads", content=content, params={"filename": "bench.csv"},
                           headers={"Content-Type": "text/csv"})
    up.raise_for_status()
    uploaded = time.perf_counter()
    mapping = {**up.json()["suggestedMapping"], "custom.industry": "Industry"}
    r = await client.post("/api/leads/imports", json={"uploadId": up.json()["uploadId"], "mapping": mapping,
                                                      "dedupe": "skip"})
    r.raise_for_status()
    progress: list[int] = []
    body = r.json()
    while body["status"] == "running":
        await asyncio.sleep(0.2)
        body = (await client.get(f"/api/leads/imports/{body['id']}")).json()
        progress.append(body["processed"])
    done = time.perf_counter()
    return {"status": body["status"], "created": body["created"], "upload_s": uploaded - t0, "total_s": done - t0,
            "progress_updates_seen": len(set(progress)) - 1}


async def _ceiling(schema: str, n: int, tag: str) -> float:
    leads, runs = lead_rows(n, tag=tag, status="new", audited=False)
    t0 = time.perf_counter()
    await insert_leads(schema, leads, runs)
    return time.perf_counter() - t0


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    n = int(ctx.get("import_rows", ROWS))
    rid = run_id()
    out: dict[str, Any] = {"rows": n, "repeats": REPEATS}
    async with schemas_and_topics(rid, ("leads",)) as (schemas, prefix):
        with processes(Path(ctx["log_dir"]) / f"import-{rid}") as procs:
            api = spawn_api(procs, "leads", service_env(prefix=prefix, schemas=schemas), ctx)
            await wait_http(f"{api}/health/live", procs)
            async with httpx.AsyncClient(base_url=api, timeout=300, trust_env=False,
                                         headers={"X-API-Key": API_KEY}) as client:
                runs: list[dict[str, Any]] = []
                cpu0 = sum(psutil.Process(procs.pid("leads-api")).cpu_times()[:2])
                for _ in range(REPEATS):
                    runs.append(await _import_once(client, _file(n, uuid.uuid4().hex[:8])))
                cpu_s = sum(psutil.Process(procs.pid("leads-api")).cpu_times()[:2]) - cpu0
        ceilings = [await _ceiling(schemas["leads"], n, f"{rid}c{i}") for i in range(REPEATS)]
    totals = [r["total_s"] for r in runs]
    out.update({
        "statuses": [r["status"] for r in runs], "created": [r["created"] for r in runs],
        "import_s": [round(t, 2) for t in totals], "import_s_median": round(statistics.median(totals), 2),
        "import_s_spread": round(max(totals) - min(totals), 2),
        "rows_per_s_median": round(n / statistics.median(totals)),
        "upload_s": [round(r["upload_s"], 2) for r in runs],
        "progress_updates_seen": [r["progress_updates_seen"] for r in runs],
        "leads_api_cpu_ms_per_row": round(cpu_s * 1000 / (n * REPEATS), 3),
        "ceiling_direct_insert_s": [round(c, 2) for c in ceilings],
        "ratio_to_ceiling": round(statistics.median(ceilings) / statistics.median(totals), 3),
    })
    return out


if __name__ == "__main__":
    run_standalone(run)
