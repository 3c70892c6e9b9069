"""Campaigns edited after enrolment: how long one pass of the leads service's template check takes when an operator
edits a campaign with N enrolled leads (PATCH /campaign/update/campaign on the simulator, its own process), and so
how long detection takes at most: one check interval plus one pass. Beside it, the same pass when nothing changed
(one list call, fingerprints compared: what every idle pass costs)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from _common import (
    DB_URL,
    KAFKA,
    SIM_KEY,
    SIM_WORKSPACE,
    processes,
    run_id,
    run_standalone,
    schemas_and_topics,
    simulator_campaigns,
    spawn_simulator,
    wait_http,
)
from _fixtures import insert_leads, lead_rows, ready_variables

LEADS = 2_000
REPEATS = 3


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    from leads.bootstrap import bootstrap
    from leads.handlers.check_campaign_templates import check_campaign_templates
    from leads.settings import LeadsSettings
    from plusvibe.settings import PlusVibeSettings

    n = int(ctx.get("template_check_leads", LEADS))
    rid = run_id()
    out: dict[str, Any] = {"leads": n}
    async with schemas_and_topics(rid, ("leads",)) as (schemas, prefix):
        with processes(Path(ctx["log_dir"]) / f"template-check-{rid}") as procs:
            sim = spawn_simulator(procs, rate=1000.0)
            await wait_http(f"{sim}/_sim/health", procs)
            campaign = simulator_campaigns(procs)["active"]
            leads, runs = lead_rows(n, tag=f"{rid}tc", status="email_sent", audited=True,
                                    variables=ready_variables(steps=3))
            for lead in leads:
                lead.update(campaign_id=campaign, wb_delivered=True)
            await insert_leads(schemas["leads"], leads, runs)
            service = bootstrap(
                LeadsSettings(database_url=DB_URL, db_schema=schemas["leads"], kafka_bootstrap_servers=KAFKA,
                              kafka_topic_prefix=prefix, log_level="WARNING", log_json=False),
                plusvibe_settings=PlusVibeSettings(base_url=f"{sim}/api/v1", api_key=SIM_KEY,
                                                   workspace_id=SIM_WORKSPACE, requests_per_second=1000))
            await service.runtime.migrate()

            async def check() -> tuple[float, Any]:
                t0 = time.perf_counter()
                report = await check_campaign_templates(service.runtime.uow, service.campaigns,
                                                        configured_storage="verbatim",
                                                        workspace_id=SIM_WORKSPACE)
                return time.perf_counter() - t0, report

            first_s, first = await check()  # first sight of every campaign: every enrolled lead judged
            idle = [(await check())[0] for _ in range(REPEATS)]
            edited: list[tuple[float, int, int, int]] = []
            cleared: list[tuple[float, int, int, int]] = []
            async with httpx.AsyncClient(base_url=f"{sim}/api/v1", headers={"x-api-key": SIM_KEY},
                                         timeout=30, trust_env=False) as pv:
                got = (await pv.get("/campaign/list-all", params={"workspace_id": SIM_WORKSPACE,
                                                                   "campaign_id": campaign})).json()[0]
                original = got["sequences"]
                added = [*original, {"wait_time": 1, "variations": [
                    {"subject": "", "body": "<p>{{email_body_4}}</p><p>{{opening_line}}</p>"}]}]
                for _ in range(REPEATS):
                    for sequences, into in ((added, edited), (original, cleared)):
                        r = await pv.patch("/campaign/update/campaign", json={
                            "workspace_id": SIM_WORKSPACE, "campaign_id": campaign, "sequences": sequences})
                        r.raise_for_status()
                        seconds, report = await check()
                        into.append((seconds, len(report.flagged), len(report.cleared), len(report.refreshes)))
            await service.runtime.dispose()
            close = getattr(service.plusvibe, "aclose", None)
            if close is not None:
                await close()
    out.update({
        "first_pass_s": round(first_s, 3), "first_pass_flagged": len(first.flagged),
        "idle_pass_ms": [round(s * 1000, 1) for s in idle],
        "edit_pass_s": [round(s, 3) for s, *_ in edited],
        "edit_flagged": [f for _, f, _, _ in edited], "edit_refreshes": [r for *_, r in edited],
        "revert_pass_s": [round(s, 3) for s, *_ in cleared], "revert_cleared": [c for _, _, c, _ in cleared],
        "edit_pass_ms_per_lead": round(statistics.median(s for s, *_ in edited) / n * 1000, 3),
        "detection_bound_s": f"interval (30 s default) + {statistics.median(s for s, *_ in edited):.2f} s",
    })
    return out


if __name__ == "__main__":
    run_standalone(run)
