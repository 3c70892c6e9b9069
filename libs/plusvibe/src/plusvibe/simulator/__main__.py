"""Run the simulator: ``python -m plusvibe.simulator --port 8931 --seed demo --tick-seconds 5``."""

from __future__ import annotations

import argparse
import json
import os

import uvicorn

from plusvibe.simulator.app import create_app
from plusvibe.simulator.state import SimulatorState


def build_parser() -> argparse.ArgumentParser:
    """The command line; values that may start with ``-`` (secrets, keys) are passed as ``--opt=value``."""
    parser = argparse.ArgumentParser(prog="python -m plusvibe.simulator")
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (127.0.0.1 or ::1)")
    parser.add_argument("--port", type=int, default=8931)
    parser.add_argument("--seed", default=None, help="seed data set (demo)")
    parser.add_argument("--tick-seconds", type=float, default=None, help="run the send loop every S seconds")
    # No --webhook-url: like PlusVibe, the simulator registers no hook by itself (clients call /hook/add).
    parser.add_argument("--webhook-secret", default=os.environ.get("PLUSVIBE_SIM_WEBHOOK_SECRET", "sim-webhook-secret"),
                        help="the secret of a hook added without one")
    parser.add_argument("--api-key", default=os.environ.get("PLUSVIBE_SIM_API_KEY", "sim-api-key"))
    parser.add_argument("--rate", type=float, default=5.0, help="requests/second per key")
    parser.add_argument(
        "--custom-storage",
        choices=("verbatim", "prefixed"),
        default="verbatim",
        help="how custom variables are stored: as sent (k) or as custom_k",
    )
    parser.add_argument(
        "--judge-all-variants", action="store_true", help="judge every variation and random option of each send"
    )
    parser.add_argument("--persist", default=None, help="JSON file to keep state across restarts")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the simulator binds to loopback only")
    state = SimulatorState(
        api_key=args.api_key,
        rate_limit_per_s=args.rate,
        webhook_secret=args.webhook_secret,
        persist_path=args.persist,
        custom_storage=args.custom_storage,
        judge_all_variants=args.judge_all_variants,
    )
    if args.seed and not state.workspaces:
        print(json.dumps(state.seed(args.seed)), flush=True)
    app = create_app(state, tick_seconds=args.tick_seconds)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
