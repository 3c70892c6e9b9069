"""The inbound rate limit on a real service app (leads, on a real PostgreSQL schema and broker): once a key's
burst is spent its next request — the fast-path GET /api/leads/{id} included — answers 429 with
`Retry-After` and the kit's error body, while another key and the health probes are still served."""

from __future__ import annotations

import uuid

import pytest
from api_testkit import FULL_KEY, Infra, build_app, other_scope_key, started

from servicekit.testing import Database

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

# One token per 2 s: however slow this machine is, a few rapid requests cannot refill the bucket in between.
RATE_PER_S, BURST = 0.5, 5
# Holds every scope of leads (it is the key refused by audits only).
OTHER_KEY = other_scope_key("audits")


async def test_api_sixth_rapid_request_gets_429_with_retry_after_while_another_key_is_served(
    pg_database: Database, kafka_bootstrap: str, topic_prefix: str
) -> None:
    infra = Infra(pg_database.url, pg_database.schema, kafka_bootstrap, topic_prefix)
    app = build_app("leads", infra, None, rate_limit_per_s=RATE_PER_S, rate_limit_burst=BURST)
    async with started(app) as http:
        full = {"X-API-Key": FULL_KEY}
        served = [(await http.get("/api/lead-statuses", headers=full)).status_code for _ in range(BURST)]
        assert served == [200] * BURST
        refused = await http.get(f"/api/leads/{uuid.uuid4()}", headers=full)  # the FastRoute path
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["reason"] == "rate_limited" and refused.json()["message"]
        assert (await http.get("/api/lead-statuses", headers=full)).status_code == 429

        assert (await http.get("/api/lead-statuses", headers={"X-API-Key": OTHER_KEY})).status_code == 200
        for path in ("/health/live", "/health/ready"):
            assert (await http.get(path, headers=full)).status_code == 200
        metrics = await http.get("/metrics", headers=full)
        assert metrics.status_code == 200
        assert 'http_requests_rate_limited_total{service="leads"}' in metrics.text

    paths = app.openapi()["paths"]
    assert "429" in paths["/api/leads/{lead_id}"]["get"]["responses"]
    assert "429" not in paths["/health/live"]["get"]["responses"]
