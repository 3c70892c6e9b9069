"""The audits service in-process (API + consumer + relay + audit worker) on real PostgreSQL and Kafka, with
a loopback test site and a fake resolver (no DNS query ever leaves the process)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from audits_harness import API_KEY, AUDIT_TOPICS, OTHER_SCOPE_KEY, PUBLIC_BASE, Harness, HarnessFactory
from sites import GOOD_TXT, Deployment, FakeResolver

from audits.bootstrap import bootstrap
from audits.engine import Ports
from audits.entrypoints.http import create_app
from audits.settings import AuditsSettings
from outreach_ops.topic_admin import ensure_topics
from servicekit.testing import Database
from servicekit.web.auth import hash_key


@pytest.fixture
async def make_harness(
    pg_database: Database, kafka_bootstrap: str, topic_prefix: str, deploy: Callable[..., Awaitable[Deployment]]
) -> AsyncIterator[HarnessFactory]:
    stack: list[Any] = []

    async def _make(*, site_kwargs: dict[str, Any] | None = None, extra_ports: dict[str, Ports] | None = None,
                    **overrides: Any) -> Harness:
        await ensure_topics(kafka_bootstrap, AUDIT_TOPICS, prefix=topic_prefix)
        site = await deploy(**(site_kwargs or {}))
        resolver = FakeResolver({"good.test": ["127.0.0.1"], "www.good.test": ["127.0.0.1"]}, txt=dict(GOOD_TXT))
        values: dict[str, Any] = {
            "database_url": pg_database.url, "db_schema": pg_database.schema,
            "kafka_bootstrap_servers": kafka_bootstrap, "kafka_topic_prefix": topic_prefix,
            "api_keys_json": json.dumps([
                {"name": "tester", "sha256": hash_key(API_KEY), "scopes": ["audits:read"]},
                {"name": "other", "sha256": hash_key(OTHER_SCOPE_KEY), "scopes": ["leads:read"]},
            ]),
            "public_base_url": PUBLIC_BASE,
            # This test site only: its two loopback ports, for its own name.
            "allowlist": f"good.test@127.0.0.1:{site.https_port},good.test@127.0.0.1:{site.http_port}",
            "site_ports": {"good.test": Ports(https=site.https_port, http=site.http_port), **(extra_ports or {})},
            "ca_file": site.ca_file,
            "request_timeout_s": 3.0,
            "total_budget_s": 8.0,
            "worker_poll_interval_s": 0.05,
            "consumer_transient_budget_s": 5,
            "resolver": "static",  # never dnspython in tests (the fake below is injected anyway)
        }
        values.update(overrides)
        service = bootstrap(AuditsSettings(**values), resolver=resolver)
        app = create_app(service=service, embedded_workers=True)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        stack.append(lifespan)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audits",
                                   headers={"X-API-Key": API_KEY})
        stack.append(client)
        return Harness(client, service, site, resolver, kafka_bootstrap, topic_prefix)

    yield _make
    for item in reversed(stack):
        await item.__aexit__(None, None, None)
