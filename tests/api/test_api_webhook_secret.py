"""The PlusVibe webhook route takes a shared secret instead of an API key: a missing or wrong secret (or a
valid API key in its place) gets 401 and nothing is stored; an unset secret refuses everything (fail
closed); malformed payloads with the right secret get a 4xx with a reason, never a 5xx, never a stored row."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from api_testkit import FULL_KEY, WEBHOOK_PATH, WEBHOOK_SECRET, Infra, build_app, dump_schema, started

from servicekit.testing import Database

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
HEADER = "x-plusvibe-secret"


def email_sent(email: str) -> dict[str, Any]:
    return {"webhook_event": "EMAIL_SENT", "email": email, "lead_email": email, "campaign_id": "c1",
            "workspace_id": "w1", "event_id": uuid.uuid4().hex, "subject": "Hello", "sent_at": "2026-11-28T01:00:00Z"}


@pytest.fixture
def infra(pg_database: Database, kafka_bootstrap: str, topic_prefix: str) -> Infra:
    return Infra(pg_database.url, pg_database.schema, kafka_bootstrap, topic_prefix)


def _rows(dump: dict[str, list[str]]) -> dict[str, int]:
    return {table: len(rows) for table, rows in dump.items() if table != "alembic_version"}


@pytest.mark.parametrize("headers", [
    {},
    {HEADER: "not-the-secret"},
    {HEADER: WEBHOOK_SECRET.upper()},
    {HEADER: WEBHOOK_SECRET + " "},
    {HEADER: ""},
    {"x-api-key": FULL_KEY},  # an API key, however powerful, is not the webhook secret
    {"authorization": f"Bearer {WEBHOOK_SECRET}"},  # the secret under another header
], ids=["missing", "wrong", "case-changed", "padded", "empty", "api-key-instead", "other-header"])
async def test_api_webhook_without_the_right_secret_is_refused_and_nothing_is_stored(
    infra: Infra, headers: dict[str, str]
) -> None:
    async with started(build_app("unibox", infra, None)) as http:
        before = await dump_schema(infra.database_url, infra.schema)
        refused = await http.post(WEBHOOK_PATH, json=email_sent("ana@example.test"), headers=headers)
        assert refused.status_code == 401
        assert refused.json()["reason"] == "webhook_secret_invalid"
        assert await dump_schema(infra.database_url, infra.schema) == before
        # The same delivery with the secret is accepted and stored: the refusal above was the secret's doing.
        accepted = await http.post(WEBHOOK_PATH, json=email_sent("ana@example.test"), headers={HEADER: WEBHOOK_SECRET})
        assert accepted.status_code == 200, accepted.text
        assert sum(_rows(await dump_schema(infra.database_url, infra.schema)).values()) > sum(_rows(before).values())


async def test_api_webhook_with_no_secret_configured_refuses_every_delivery(infra: Infra) -> None:
    async with started(build_app("unibox", infra, None, webhook_secret=None)) as http:
        before = await dump_schema(infra.database_url, infra.schema)
        for headers in ({}, {HEADER: ""}, {HEADER: "anything"}):
            answer = await http.post(WEBHOOK_PATH, json=email_sent("bo@example.test"), headers=headers)
            assert answer.status_code == 401 and answer.json()["reason"] == "webhook_secret_invalid"
        assert await dump_schema(infra.database_url, infra.schema) == before


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"null", b"1e999999",
    b'{"webhook_event": "EMAIL_SENT", "email": "a\\u0000b@example.test"}',
    b'{"webhook_event": "EMAIL_SENT\\u0000", "email": "x@example.test"}',
    b'{"webhook_event": "\\ud800", "email": "x@example.test"}',
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b'{"webhook_event": "EMAIL_SENT", "a":' + b'{"a":' * 400 + b"1" + b"}" * 401,
    b'{"webhook_event": "EMAIL_SENT", "email": "x@example.test", "n": 1e999999}',
    b'{"webhook_event": "EMAIL_SENT", "email": "x@example.test", "n": NaN}',
    b'{"webhook_event": "EMAIL_SENT", "email": "x@example.test", "n": -Infinity}',
], ids=["empty", "text", "bad-utf8", "array", "string", "null", "huge-number", "nul-in-email", "nul-in-event",
        "lone-surrogate", "too-deep", "deep", "infinite-field", "nan-field", "minus-infinity-field"])
async def test_api_webhook_with_a_malformed_body_gets_a_4xx_with_a_reason(infra: Infra, body: bytes) -> None:
    async with started(build_app("unibox", infra, None)) as http:
        answer = await http.post(WEBHOOK_PATH, content=body,
                                 headers={HEADER: WEBHOOK_SECRET, "content-type": "application/json"})
        assert answer.status_code < 500, answer.text
        if answer.status_code >= 400:
            assert isinstance(answer.json().get("reason"), str)
