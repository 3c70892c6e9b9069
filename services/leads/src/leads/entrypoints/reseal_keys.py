"""`python -m leads.entrypoints.reseal_keys`: step 2 of a KEK rotation (docs/INTEGRATIONS.md). With
`PLUSVIBE_KEK=new,old` on every service, seals the stored PlusVibe key again under `new` and announces it, so each
service's copy is resealed as well; afterwards `old` can be dropped. Does so for every served workspace
(`WORKSPACES`). Prints what it did; exit 1 when a stored key opens with none of the configured KEKs."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from leads.bootstrap import bootstrap
from leads.domain.refusals import Refusal
from leads.handlers.plusvibe_integration import reseal


async def _main() -> int:
    svc = bootstrap(configure_logs=True)
    failed = False
    try:
        # Every workspace the deployment serves has its own stored key, each sealed under the KEK.
        for workspace in sorted(svc.settings.served_workspaces()):
            try:
                done = await reseal(svc.runtime.uow, keyring=svc.keyring, workspace=workspace, now=datetime.now(UTC))
            except Refusal as refusal:
                print(f"reseal_keys: workspace {workspace}: {refusal.reason}: {refusal.message}", file=sys.stderr)
                failed = True
                continue
            print(f"reseal_keys: workspace {workspace}: " + ("resealed under the first KEK and announced" if done
                                                             else "no connected key to reseal"))
    finally:
        await svc.runtime.engine.dispose()
    return 1 if failed else 0


def main() -> None:
    sys.exit(asyncio.run(_main()))


if __name__ == "__main__":
    main()
