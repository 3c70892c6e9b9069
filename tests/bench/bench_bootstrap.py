"""A new subscriber's bootstrap: a compacted lead-snapshot topic (`leads.lead-upserted`, bench prefix) holding the
snapshots of N leads (default 100,000; the leads service's own `lead_snapshot` of complete leads, as the relay
publishes them), read from scratch by the example subscriber (examples/lead_subscriber, run as its own process
the way its README runs it, with a new group and an empty SQLite file) until it has handled every record.
Figures: seconds (spawn → last record handled, and after its first lines → last) and records/s, beside a raw consume of
the same topic (plain aiokafka, no processing) in the same run; the leads in its SQLite directory at the end.

    .venv/bin/python tests/bench/bench_bootstrap.py bootstrap_leads=3000
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from _common import KAFKA, PY, REPO, Procs, processes, run_id, run_standalone, schemas_and_topics, service_env
from bench_replay import Timing, produce, raw_consume, snapshot_envelopes, snapshot_leads

from contracts.topics import LEAD_UPSERTED

LEADS = 100_000
IDLE_EXIT_S = 3.0  # the subscriber exits after this long without records (its --exit-when-idle)
TIMEOUT_S = 3600.0  # at ~100 records/s (per-record SQLite commits) 100,000 leads take ~17 min
SUBSCRIBER = REPO / "examples" / "lead_subscriber" / "lead_subscriber.py"


class DecisionCounter:
    """Counts the subscriber's JSON lines (one per record) in its log as they are written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.count = 0

    def poll(self) -> int:
        if not self.path.exists():
            return self.count
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written is counted next time
        self.offset += len(complete)
        self.count += complete.count(b'"decision"')
        return self.count


def subscriber_argv(topic: str, group: str, db: Path) -> list[str]:
    return [PY, str(SUBSCRIBER), "--bootstrap", KAFKA, "--topic", topic, "--group", group,
            "--schemas", str(REPO / "contracts" / "schemas"), "--db", str(db), "--exit-when-idle", str(IDLE_EXIT_S)]


async def time_subscriber(procs: Procs, argv: list[str], records: int, *, timeout_s: float) -> Timing:
    """Spawns the subscriber; the timing runs from the spawn to its line for the last record."""
    counter = DecisionCounter(procs.log_dir / "lead-subscriber.log")
    timing = Timing(records)
    popen = procs.spawn("lead-subscriber", argv, service_env(prefix="", schemas={}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = counter.poll()
        timing.saw(seen)
        if seen >= records:
            timing.done = time.perf_counter()
            break
        if popen.poll() is not None:
            raise RuntimeError(f"the subscriber exited with {popen.returncode} after {seen} records:\n"
                               f"{procs.tail('lead-subscriber')}")
        await asyncio.sleep(0.02)
    else:  # out of time: the figures of the records handled so far (the process is stopped on exit)
        timing.records, timing.done = counter.poll(), time.perf_counter()
        timing.timed_out = True
        return timing
    await asyncio.to_thread(popen.wait, IDLE_EXIT_S + 30)  # it exits once idle: its commits are done
    return timing


def directory_leads(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM leads").fetchone()[0])
    finally:
        conn.close()


def decisions(log: Path) -> dict[str, int]:
    import json

    out: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"decision"' in line:
            decision = str(json.loads(line)["decision"])
            out[decision] = out.get(decision, 0) + 1
    return out


async def run(ctx: dict[str, Any]) -> dict[str, Any]:
    n = int(ctx.get("bootstrap_leads", LEADS))
    rid = run_id()
    out: dict[str, Any] = {"leads": n}
    async with schemas_and_topics(rid, ()) as (_, prefix):
        topic = f"{prefix}{LEAD_UPSERTED.name}"
        leads, runs = snapshot_leads(n, tag=f"{rid}bs", complete=True)
        await asyncio.sleep(1.0)  # the new topic's partition leaders (else the first sends are retried)
        started = time.perf_counter()
        await produce(topic, snapshot_envelopes(leads, runs))
        out["produce_s"] = round(time.perf_counter() - started, 1)
        print(f"[bootstrap] {n} snapshots in {topic} ({out['produce_s']} s); raw consume ...", flush=True)
        out.update((await raw_consume(topic, LEAD_UPSERTED, n)).figures("raw"))
        with processes(Path(ctx["log_dir"]) / f"bootstrap-{rid}") as procs:
            db = procs.log_dir / "leads.sqlite"
            procs.log_dir.mkdir(parents=True, exist_ok=True)
            print("[bootstrap] example subscriber from scratch ...", flush=True)
            timing = await time_subscriber(procs, subscriber_argv(topic, f"{prefix}bench.lead-directory", db), n,
                                           timeout_s=float(ctx.get("bootstrap_timeout_s", TIMEOUT_S)))
            out.update(timing.figures("subscriber"))
            out["subscriber_timed_out"] = timing.timed_out
            out["subscriber_decisions"] = decisions(procs.log_dir / "lead-subscriber.log")
            out["subscriber_directory_leads"] = directory_leads(db)
    rate, raw = out.get("subscriber_events_per_s"), out.get("raw_events_per_s")
    out["ratio_to_raw"] = round(rate / raw, 3) if rate and raw else None
    return out


if __name__ == "__main__":
    run_standalone(run)
