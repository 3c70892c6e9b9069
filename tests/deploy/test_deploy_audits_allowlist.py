"""The launcher allowlists each demo site on exactly the ports it listens on, never a whole address.

A port-less `name@127.0.0.1` entry once matched every port, so a demo site redirecting to
`http://<its name>:<another port>/` made the audit dial any loopback service.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from audits.settings import AuditsSettings
from outreach_local.demo_sites import plan_ports
from outreach_local.system import LocalSystem, SystemConfig

LOOPBACK = ipaddress.ip_address("127.0.0.1")


def launched_audits_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[SystemConfig, AuditsSettings]:
    config = SystemConfig(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:9", demo_sites_base_port=24001)
    for key, value in LocalSystem(config)._audits_env().items():
        monkeypatch.setenv(key, value)
    return config, AuditsSettings()


def test_launcher_allowlist_names_every_demo_port_and_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, settings = launched_audits_settings(tmp_path, monkeypatch)
    plan = plan_ports(config.demo_sites_base_port)
    expected = {(s.name, p) for s in plan for p in (s.http_port, s.https_port) if p is not None}
    entries = settings.engine_settings().allowlist
    assert {(e.host, e.port) for e in entries} == expected
    assert all(e.network == ipaddress.ip_network("127.0.0.1/32") for e in entries)
    used = {port for _, port in expected}
    for site in plan:
        for port in used | {80, 443, config.gateway_port, config.service_ports["audits"]}:
            allowed = any(e.matches(site.name, LOOPBACK, port) for e in entries)
            assert allowed is ((site.name, port) in expected), (site.name, port)


def test_demo_site_without_https_is_declared_so_the_audit_never_probes_443(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, settings = launched_audits_settings(tmp_path, monkeypatch)
    engine = settings.engine_settings()
    plain = [s for s in plan_ports(config.demo_sites_base_port) if s.https_port is None]
    assert plain, "the demo set has a site without https"
    for site in plain:
        assert engine.ports_for(site.name).https is None
        assert engine.ports_for(site.name).http == site.http_port
