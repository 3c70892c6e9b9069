"""The launcher's simulator command line parses for every secret `secrets.token_urlsafe` can produce.

A token may begin with ``-``; passed as a separate argument, argparse took it for an option and the
simulator exited with status 2 (a CI run failed this way). The launcher now passes ``--opt=value``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach_local.system import LocalSystem, SystemConfig
from plusvibe.simulator.__main__ import build_parser


@pytest.mark.parametrize("secret", ["-leading-dash", "--double", "plain_token", "-"])
@pytest.mark.parametrize("api_key", ["-key", "sim-api-key"])
def test_simulator_argv_keeps_secrets_that_start_with_a_dash(tmp_path: Path, secret: str, api_key: str) -> None:
    config = SystemConfig(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:9", webhook_secret=secret,
                          simulator_api_key=api_key)
    first, _workers, _last = LocalSystem(config)._plan()
    simulator = next(proc for proc in first if proc.name == "simulator")
    module_at = simulator.argv.index("plusvibe.simulator")
    args = build_parser().parse_args(simulator.argv[module_at + 1:])
    assert args.webhook_secret == secret
    assert args.api_key == api_key
    assert args.port == config.simulator_port
