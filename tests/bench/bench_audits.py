"""Audits: reuses services/audits/tests/bench_engine.py (engine time vs a raw fetch of the same loopback site;
100 concurrent audits of slow loopback sites with peak RSS and event-loop lag). Runs it as a subprocess and
keeps its printed figures."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

from _common import PY, REPO

SCRIPT = REPO / "services" / "audits" / "tests" / "bench_engine.py"


async def run(_: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = await asyncio.to_thread(subprocess.run, [PY, str(SCRIPT)], capture_output=True, text=True, timeout=300,
                                   cwd=str(REPO))
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return {"exit": proc.returncode, "elapsed_s": round(time.perf_counter() - t0, 1), "output": lines,
            **({"stderr": proc.stderr[-500:]} if proc.returncode else {})}


if __name__ == "__main__":
    print("\n".join(asyncio.run(run({}))["output"]))
