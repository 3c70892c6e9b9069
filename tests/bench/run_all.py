"""Runs the benchmarks and prints their figures (nothing is asserted; targets are printed beside them).

    .venv/bin/python tests/bench/run_all.py                      # everything (< 15 min on 2 cores without
                                                                 # replay + bootstrap at 100,000 events each)
    .venv/bin/python tests/bench/run_all.py --only replay,bootstrap --set replay_events=3000 --set bootstrap_leads=3000
    .venv/bin/python tests/bench/run_all.py --only pipeline,read
    .venv/bin/python tests/bench/run_all.py --profile leads-consumers   # pyinstrument reports in the log dir

Needs Kafka (KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:19092) and PostgreSQL (TEST_DATABASE_URL). Each
benchmark uses its own schemas `bench_<id>_<svc>` and topics `b<id>.*` and removes them afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_accounts
import bench_audits
import bench_bootstrap
import bench_ceilings
import bench_csv_import
import bench_first_sync
import bench_pipeline
import bench_plusvibe
import bench_push
import bench_read
import bench_replay
import bench_template_check
from _common import loadavg, machine

BENCHES = {
    "ceilings": bench_ceilings.run,
    "pipeline": bench_pipeline.run,
    "plusvibe": bench_plusvibe.run,
    "push": bench_push.run,
    "accounts": bench_accounts.run,
    "read": bench_read.run,
    "audits": bench_audits.run,
    "template-check": bench_template_check.run,
    "replay": bench_replay.run,
    "bootstrap": bench_bootstrap.run,
    "csv-import": bench_csv_import.run,
    "first-sync": bench_first_sync.run,
}


def rate_rows(row: Any, p: dict[str, Any], prefix: str, target: str) -> None:
    """The rows of one fixed-rate phase of the pipeline (`rate_*`, or `high_rate_*` for the second): latency against
    `target` (none: reported only), CPU per lead, the hops."""
    per_s = p.get(f"{prefix}rate_leads_per_s")
    rl = p.get(f"{prefix}rate_latency", {})
    p99 = rl.get("p99_ms")
    row("pipeline", f"latency at {per_s} leads/s for {p.get(f'{prefix}rate_seconds')} s",
        f"p50 {rl.get('p50_ms')} ms, p99 {p99} ms ({p.get(f'{prefix}rate_applied')} applied)", "", target,
        bool(p99 is not None and p99 <= 100) if target else None)
    if p.get(f"{prefix}rate_cpu_ms_per_lead_total") is not None:
        row("pipeline", f"CPU per lead at {per_s} leads/s (ms)",
            f"{p.get(f'{prefix}rate_cpu_ms_per_lead')}; total {p.get(f'{prefix}rate_cpu_ms_per_lead_total')} ms/lead, "
            f"{p.get(f'{prefix}rate_cores_busy')} cores busy", "", "", None)
    for hop, lat in (p.get(f"{prefix}rate_hops") or {}).items():
        row("pipeline", f"  hop at {per_s} leads/s: {hop.replace('_', ' ')}",
            f"p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms", "", "", None)


def _get(results: dict[str, Any], bench: str, *path: str) -> Any:
    value: Any = results.get(bench, {})
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def table(results: dict[str, Any]) -> list[str]:
    """Markdown rows: figure | measured | ceiling / reference | target | met."""
    rows = ["| benchmark | figure | measured | beside it (same run) | target | met |", "|---|---|---|---|---|---|"]

    def row(bench: str, figure: str, measured: Any, beside: str, target: str, met: bool | None) -> None:
        if bench in results and measured is not None:
            rows.append(f"| {bench} | {figure} | {measured} | {beside} | {target} | "
                        f"{'—' if met is None else ('yes' if met else '**no**')} |")

    c = results.get("ceilings", {})
    sizes = ", ".join(f"{t} {n} B" for t, n in c.get("broker_record_bytes") or [])
    row("ceilings", f"broker: the pipeline's {c.get('broker_records_per_lead')} records per lead ({sizes}), produce→"
        "consume, acks=all idempotent", _median(c.get("broker_records_per_s"), "records/s"),
        f"produce only {_median(c.get('broker_produce_records_per_s'), 'records/s')}", "(ceiling)", None)
    row("ceilings", f"DB: consumer batches of {c.get('db_batch')} records (inbox, lock, update, outbox), "
        f"{c.get('db_connections')} conns + {c.get('db_relays')} relays",
        _median(c.get("db_records_per_s"), "records/s"),
        f"{_median(c.get('db_tx_per_s'), 'tx/s')}; "
        f"relays took (deleted) {_median(c.get('db_relayed_rows_per_s'), 'rows/s')}",
        "(ceiling)", None)
    row("ceilings", f"min(broker/{c.get('broker_records_per_lead')}, DB/{c.get('db_records_per_lead')}) of the medians",
        f"{c.get('ceiling_leads_per_s')} leads/s",
        f"broker {c.get('ceiling_broker_leads_per_s')}, DB {c.get('ceiling_db_leads_per_s')} leads/s "
        f"(the last {c.get('ceiling_reps')} of up to {c.get('ceiling_max_reps')} rounds after a warm-up, until their "
        f"spread ≤ {c.get('ceiling_stable_spread')})", "(ceiling)", None)
    p = results.get("pipeline", {})
    if p:
        rate = p.get("pipeline_leads_per_s")
        ratio = p.get("ratio_to_ceiling")
        row("pipeline", f"burst of {p.get('burst_leads')} leads, AuditCompleted → email_generated",
            f"{rate} leads/s ({p.get('burst_applied')} applied in {p.get('burst_elapsed_s')} s)",
            f"ceiling {c.get('ceiling_leads_per_s')} leads/s → ratio {ratio}", "≥ 1,800 leads/s and ratio ≥ 0.50",
            bool(rate and rate >= 1800 and ratio is not None and ratio >= 0.50))
        bl = p.get("burst_latency", {})
        row("pipeline", "burst latency publish → applied", f"p50 {bl.get('p50_ms')} ms, p99 {bl.get('p99_ms')} ms",
            "", "", None)
        row("pipeline", "CPU per lead during the burst (ms)",
            f"{p.get('burst_cpu_ms_per_lead')}; total {p.get('burst_cpu_ms_per_lead_total')} ms/lead, "
            f"{p.get('burst_cores_busy')} cores busy; broker warmed with {p.get('broker_warmup_records')} records",
            f"batches replayed record by record: {p.get('batch_fallbacks')}", "≤ 1.0 ms/lead in total",
            bool(p.get("burst_cpu_ms_per_lead_total") is not None and p["burst_cpu_ms_per_lead_total"] <= 1.0))
        rate_rows(row, p, "", "writeback flip p99 ≤ 100 ms")
        if p.get("high_rate_leads_per_s") is not None:
            rate_rows(row, p, "high_", "")
    v = results.get("plusvibe", {})
    if v:
        row("plusvibe", f"{v.get('leads')} linked leads, simulator 5 req/s + {v.get('sim_latency_ms')} ms",
            f"{v.get('req_per_s')} req/s, {v.get('http_429')} × 429", f"limit 5 req/s; {v.get('delivered')} delivered "
            f"in {v.get('elapsed_s')} s", "≥ 4.75 req/s, 0 × 429",
            bool((v.get("req_per_s") or 0) >= 4.75 and v.get("http_429") == 0))
    u = results.get("push", {})
    if u:
        row("push", f"bulk push of {u.get('leads')} ready leads (batches of 100)",
            f"{u.get('elapsed_s')} s (HTTP {u.get('status')}, {u.get('enrolled')} enrolled, {u.get('http_429')} × 429)",
            f"floor {u.get('floor_s')} s", "≤ 22 s", bool(u.get("elapsed_s") is not None and u["elapsed_s"] <= 22))
    a = results.get("accounts", {})
    if a:
        row("accounts", f"two workspaces × {a.get('leads_per_workspace')} leads pushed at once",
            f"own keys: ×{a.get('two_keys_ratio_to_one')} of one alone; same key: ×{a.get('same_key_ratio_to_one')}, "
            f"max {a.get('same_key_max_requests_in_any_second')} req in any 1 s",
            f"one alone {a.get('one_workspace_s')} s (floor {a.get('floor_one_s')} s)",
            "own keys ≤ ×1.1; same key ≤ 5 req/s",
            bool((a.get("two_keys_ratio_to_one") or 99) <= 1.1
                 and (a.get("same_key_max_requests_in_any_second") or 99) <= a.get("rate_per_key", 5)))
    t = results.get("template-check", {})
    if t:
        row("template-check", f"pass after an edit of a campaign with {t.get('leads')} enrolled leads",
            f"{t.get('edit_pass_s')} s ({t.get('edit_pass_ms_per_lead')} ms/lead, {t.get('edit_flagged')} flagged)",
            f"idle pass {t.get('idle_pass_ms')} ms", "detection ≤ interval + pass", None)
    r = results.get("read", {})
    if r:
        row("read", "GET /api/leads/{id} at 200 req/s (open model)",
            f"p50 {r.get('api_at_200_p50_ms')} ms, p99 {r.get('api_at_200_p99_ms')} ms, "
            f"non-2xx {r.get('api_at_200_non_2xx')}",
            f"bare: p50 {r.get('bare_at_200_p50_ms')} ms, p99 {r.get('bare_at_200_p99_ms')} ms", "p99 ≤ 20 ms",
            bool(r.get("api_at_200_p99_ms") is not None and r["api_at_200_p99_ms"] <= 20))
        row("read", "peak req/s (32 connections, closed loop)", f"{r.get('api_peak_req_per_s')} req/s",
            f"bare {r.get('bare_peak_req_per_s')} req/s → ratio {r.get('peak_ratio_api_to_bare')}", "≥ 60 % of bare",
            bool((r.get("peak_ratio_api_to_bare") or 0) >= 0.6))
    a = results.get("audits", {})
    if a:
        for line in a.get("output", []):
            if line.lstrip().startswith(("raw httpx", "engine full", "engine fetch", "100 audits")):
                label, _, value = line.rpartition(":")
                row("audits", label.strip(), value.strip(), "", "", None)
    _replay_rows(results, row)
    _bootstrap_rows(results, row)
    _lead_management_rows(results, row)
    return rows


def _median(figure: dict[str, Any] | None, unit: str) -> str | None:
    """A ceiling's median with the spread of its repetitions beside it."""
    if not figure:
        return None
    rounds = figure.get("all_rounds") or figure["reps"]
    held = "" if "stable" not in figure else (", held still" if figure["stable"] else ", **did not hold still**")
    return (f"{figure['median']} {unit} (spread {figure['spread']:.0%} over the last {len(figure['reps'])}: "
            f"{figure['min']}–{figure['max']}{held}; rounds {rounds})")


# The `row` closure of `table`: bench, figure, measured, beside it, target, met.
Row = Callable[[str, str, Any, str, str, bool | None], None]


def _replay_rows(results: dict[str, Any], row: Row) -> None:
    p = results.get("replay", {})
    if not p:
        return
    n = p.get("events")
    for label, raw, what in (("replay_audit", "raw_audit", f"replay of {n} AuditCompleted, inbox has seen all"),
                             ("replay_snapshot", "raw_snapshot", f"replay of {n} lead snapshots (on_lead_upserted)")):
        ratio = p.get(f"{label}_ratio_to_raw")
        row("replay", what, f"{p.get(f'{label}_events_per_s')} events/s ({p.get(f'{label}_after_first_s')} s "
            f"after the first batch, {p.get(f'{label}_s')} s from start)",
            f"raw consume {p.get(f'{raw}_events_per_s')} events/s → ratio {ratio}", "≥ 25 % of raw consume",
            bool(ratio is not None and ratio >= 0.25))
    row("replay", f"window replay (reset to the middle: {p.get('window_audit_records')} records)",
        f"{p.get('window_audit_events_per_s')} events/s", f"ratio to raw {p.get('window_audit_ratio_to_raw')}", "",
        None)
    changes, calls = p.get("state_changes"), p.get("plusvibe_requests_during_replays")
    row("replay", "writeback tables changed / PlusVibe requests during the replays",
        f"{changes} / {calls}" if changes is not None else None,
        f"first pass: {p.get('first_pass_applied')} applied at {p.get('first_pass_events_per_s')} events/s, "
        f"{p.get('first_pass_plusvibe_calls')} PlusVibe calls", "0 / 0", changes == 0 and calls == 0)


def _bootstrap_rows(results: dict[str, Any], row: Row) -> None:
    b = results.get("bootstrap", {})
    if not b:
        return
    row("bootstrap", f"example subscriber from scratch, {b.get('leads')} lead snapshots",
        f"{b.get('subscriber_s')} s, {b.get('subscriber_events_per_s')} records/s"
        + (" (**timed out**)" if b.get("subscriber_timed_out") else ""),
        f"raw consume {b.get('raw_s')} s, {b.get('raw_events_per_s')} records/s → ratio {b.get('ratio_to_raw')}",
        "", None)


def _lead_management_rows(results: dict[str, Any], row: Row) -> None:
    i = results.get("csv-import", {})
    if i:
        row("csv-import", f"CSV import of {i.get('rows')} rows (upload → done), {i.get('repeats')} reps",
            f"median {i.get('import_s_median')} s ({i.get('rows_per_s_median')} rows/s; {i.get('import_s')}, "
            f"spread {i.get('import_s_spread')} s)",
            f"direct insert of the rows {i.get('ceiling_direct_insert_s')} s → ratio {i.get('ratio_to_ceiling')}",
            "", None)
    f = results.get("first-sync", {})
    if f:
        first, again = f.get("elapsed_s") or {}, f.get("resync_s") or {}
        row("first-sync", f"first sync of {f.get('leads')} simulator leads (5 req/s + {f.get('latency_s')} s), "
            f"{f.get('repeats')} reps",
            f"median {first.get('median')} s ({first.get('min')}–{first.get('max')}); again (all unchanged) "
            f"median {again.get('median')} s",
            f"rate-limit floor {f.get('floor_s')} s", "", None)


def markdown(results: dict[str, Any], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        f"Run {meta['date']} — command `{meta['command']}` — {meta['elapsed_s']} s",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}, Python {m['python']}; "
        f"load average before {meta['load_before']}, after {meta['load_after']} (shared machine: other test "
        "suites were running).",
        "",
        *table(results),
    ]
    return "\n".join(lines) + "\n"


async def main() -> int:
    parser = argparse.ArgumentParser(prog="run_all.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma list of {', '.join(BENCHES)}")
    parser.add_argument("--json", default=None, help="write all figures as JSON here")
    parser.add_argument("--markdown", default=None, help="write the summary table (markdown) here")
    parser.add_argument("--log-dir", default=None, help="service logs (default: a temporary directory)")
    parser.add_argument("--profile", default="", help="process names to run under pyinstrument, e.g. leads-api")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a size, e.g. pipeline_burst=2000 pipeline_rate_seconds=20 push_leads=2000 "
                        "ceiling_reps=5")
    args = parser.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {sorted(unknown)}")
    ctx: dict[str, Any] = {"log_dir": args.log_dir or tempfile.mkdtemp(prefix="bench-"), "profile": args.profile}
    for item in args.set:
        key, value = item.split("=", 1)
        ctx[key] = value
    meta: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "command": "python tests/bench/run_all.py " + " ".join(sys.argv[1:]), "load_before": loadavg()}
    print(f"[bench] {meta['date']} machine {meta['machine']}; logs in {ctx['log_dir']}", flush=True)
    results: dict[str, Any] = {}
    started = time.perf_counter()
    for name in BENCHES:
        if name not in only:
            continue
        print(f"[bench] {name} (load {loadavg()}) ...", flush=True)
        t0 = time.perf_counter()
        try:
            results[name] = await BENCHES[name](ctx)
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        results[name]["bench_wall_s"] = round(time.perf_counter() - t0, 1)
        results[name]["loadavg_after"] = loadavg()
        if name == "ceilings" and "ceiling_leads_per_s" in results[name]:
            ctx["ceiling_leads_per_s"] = results[name]["ceiling_leads_per_s"]
        print(json.dumps({name: results[name]}, indent=1, default=str), flush=True)
    meta["elapsed_s"] = round(time.perf_counter() - started)
    meta["load_after"] = loadavg()
    md = markdown(results, meta)
    print("\n" + md)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    if args.markdown:
        Path(args.markdown).write_text(md)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
