"""Fixtures: the whole system as separate processes (every service, simulator, demo sites, dashboard, gateway)
started by the launcher on loopback, and a headless Debian chromium driven by Playwright."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_browser.dashboard_testkit import CHROMIUM, CHROMIUM_ARGS, run_async

from outreach_local.system import SERVICES, LocalSystem, SystemConfig
from servicekit.process.db import drop_schema
from servicekit.testing import forget_topics_at_session_end


@pytest.fixture(scope="module")
def whole_system(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, postgres_url: str
                 ) -> Iterator[LocalSystem]:
    run_id = uuid.uuid4().hex[:8]
    schemas = {svc: f"dash_{run_id}_{svc}" for svc in SERVICES}
    config = SystemConfig.ephemeral(
        Path(tmp_path_factory.mktemp("dashboard-system")), kafka_bootstrap, postgres_url,
        simulator_tick_s=None, simulator_rate=50.0,
        extra_env={f"{svc.upper()}_DB_SCHEMA": schema for svc, schema in schemas.items()},
    )
    forget_topics_at_session_end(config.topic_prefix)
    system = LocalSystem(config)
    system.start()
    try:
        yield system
    finally:
        system.stop()
        for schema in schemas.values():
            run_async(drop_schema(postgres_url, schema))


@pytest.fixture(scope="module")
def whole_browser(whole_system: LocalSystem) -> Iterator[object]:
    """Started after the system (sync Playwright keeps an event loop running on this thread)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash deploy/local/setup-browser.sh`")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()
