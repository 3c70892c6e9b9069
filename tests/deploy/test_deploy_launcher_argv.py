"""The launcher hands the simulator its API key and webhook secret through the environment, not its command line
(visible to every user of the machine), and they arrive intact for every secret `secrets.token_urlsafe` can
produce — one may begin with ``-``, which as a separate argument argparse took for an option (a CI run failed
this way)."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach_local.system import LocalSystem, SystemConfig
from plusvibe.simulator.__main__ import build_parser


@pytest.mark.parametrize("secret", ["-leading-dash", "--double", "plain_token", "-"])
@pytest.mark.parametrize("api_key", ["-key", "sim-api-key"])
def test_the_simulator_gets_its_secrets_from_the_environment_intact(tmp_path: Path, secret: str, api_key: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = SystemConfig(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:9", webhook_secret=secret,
                          simulator_api_key=api_key)
    first, _workers, _last = LocalSystem(config)._plan()
    simulator = next(proc for proc in first if proc.name == "simulator")
    assert f"={secret}" not in " ".join(simulator.argv) and secret not in simulator.argv
    for name in ("PLUSVIBE_SIM_API_KEY", "PLUSVIBE_SIM_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, simulator.env[name])
    module_at = simulator.argv.index("plusvibe.simulator")
    args = build_parser().parse_args(simulator.argv[module_at + 1:])
    assert args.webhook_secret == secret
    assert args.api_key == api_key
    assert args.port == config.simulator_port
