"""One process calling a PlusVibe account as hard as it can, the way one of the services does (run by
test_plusvibe_shared_limit.py): `python hammer_account.py ROLE SECONDS OUT.json`, settings from PLUSVIBE_* env.

Roles are the services' call patterns: leads-push (`/lead/add`), writeback-delivery (`/lead/data/update`) and
unibox (`/unibox/emails`). Eight concurrent callers keep the account's slot queue always busy."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from plusvibe import PlusVibeClient, PlusVibeError, PlusVibeSettings, RateLimitedError


async def call(client: PlusVibeClient, role: str, n: int) -> Any:
    if role == "leads-push":
        return await client.add_leads("camp-hammer", [{"email": f"p{n}@hammer.test"}])
    if role == "writeback-delivery":
        return await client.update_lead_variables(f"p{n}@hammer.test", {"n": str(n)}, "camp-hammer")
    return await client.list_unibox_emails()


async def main(role: str, seconds: float, out: str) -> None:
    outcomes: Counter[str] = Counter()
    async with PlusVibeClient(PlusVibeSettings(attempts=1)) as client:
        await client.authenticate()
        print("ready", flush=True)
        # Every process starts hammering on the test's "go", so all of them hammer at once for `seconds`.
        if sys.stdin.readline().strip() != "go":
            return
        deadline = time.monotonic() + seconds

        async def caller(k: int) -> None:
            n = k * 1_000_000
            while time.monotonic() < deadline:
                n += 1
                try:
                    await call(client, role, n)
                    outcomes["ok"] += 1
                except RateLimitedError:
                    outcomes["429"] += 1
                except PlusVibeError as exc:
                    outcomes[type(exc).__name__] += 1

        await asyncio.gather(*(caller(k) for k in range(8)))
    Path(out).write_text(json.dumps(dict(outcomes)), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3]))
