"""Kafka security for real (issue 18, item 2): a private broker whose only client listeners are SASL_SSL
(SCRAM users made at format time, a trustme CA) and SSL with a required client certificate; no PLAINTEXT
listener exists, so everything that works here went through TLS and authentication.

- a real service's relay and consumer — leads' outbox relay publishing LeadUpserted, unibox's consumer
  applying it to its projection — configured only by the KAFKA_* variables, as in a deployment;
- topics created through the kit's admin path with credentials; the ops CLI with `--command-config`;
- a wrong password, a plaintext client, a missing client certificate: each a prompt error naming the cause.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from kafka_private_broker import PrivateBroker
from sqlalchemy import select
from typer.testing import CliRunner

from contracts.topics import ALL_TOPICS, LEAD_UPSERTED
from outreach_ops.cli import app as ops_app
from outreach_ops.topic_admin import ensure_topics
from plusvibe.settings import PlusVibeSettings
from servicekit.messaging.kafka_config import PLAINTEXT, KafkaSecurity, KafkaStartupError, read_command_config
from servicekit.messaging.relay import make_producer
from servicekit.process.runtime import run_consumers_until_stopped, run_relay_until_stopped
from servicekit.testing import Database, fresh_schema
from servicekit.web.auth import hash_key

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

API_KEY = "sasl-suite-key"
# A wrong password or protocol must fail a start within this (aiokafka's own retry would otherwise be silent).
STARTUP_ERROR_BOUND_S = 15.0


class Secured:
    def __init__(self, broker: PrivateBroker, passwords: dict[str, str]) -> None:
        self.broker = broker
        self.passwords = passwords
        self.ca = broker.tls_dir / "ca.pem"

    def security(self, user: str, *, password: str | None = None, mechanism: str = "SCRAM-SHA-512",
                 cafile: Path | None = None) -> KafkaSecurity:
        return KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism=mechanism, sasl_username=user,
                             sasl_password=password if password is not None else self.passwords[user],
                             ssl_cafile=cafile or self.ca)

    def env(self, user: str, *, password: str | None = None) -> dict[str, str]:
        return {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": password or self.passwords[user],
                "KAFKA_SSL_CAFILE": str(self.ca)}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """One secured broker for the module (~15 s to format and start), stopped at its end."""
    passwords = {name: secrets.token_urlsafe(18) for name in ("admin", "leads", "unibox")}
    broker = PrivateBroker(tmp_path_factory.mktemp("kafka-sasl"), security="SASL_SSL", mtls=True,
                           users=",".join(f"{name}:{pw}" for name, pw in passwords.items()))
    broker.start()
    try:
        yield Secured(broker, passwords)
    finally:
        broker.stop()


@pytest.fixture
async def second_schema(postgres_url: str) -> AsyncIterator[Database]:
    async with fresh_schema(postgres_url) as database:
        yield database


def private_prefix() -> str:
    # Topics of the private broker go with it: nothing for the shared broker's session-end cleanup.
    return f"s{uuid.uuid4().hex[:10]}."


def unconfigured_plusvibe() -> PlusVibeSettings:
    return PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", api_key="", workspace_id="")


def clear_kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
                 "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"):
        monkeypatch.delenv(name, raising=False)


def use_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    clear_kafka_env(monkeypatch)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def test_a_service_relay_and_consumer_work_over_sasl_ssl(
    secured: Secured, pg_database: Database, second_schema: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """leads (API + embedded relay) and unibox (consumer), each with its own SCRAM user from the environment."""
    from leads.bootstrap import bootstrap as leads_bootstrap
    from leads.entrypoints.http import create_app as leads_app
    from leads.settings import LeadsSettings
    from unibox.adapters.orm import lead_projection
    from unibox.bootstrap import bootstrap as unibox_bootstrap
    from unibox.settings import UniboxSettings

    bootstrap, prefix = secured.broker.bootstrap, private_prefix()
    created = await ensure_topics(bootstrap, ALL_TOPICS, prefix=prefix, security=secured.security("admin"))
    assert f"{prefix}{LEAD_UPSERTED.name}" in created

    common = {"kafka_bootstrap_servers": bootstrap, "kafka_topic_prefix": prefix, "log_json": False,
              "consumer_transient_budget_s": 5, "rate_limit_per_s": 0,
              "api_keys_json": json.dumps([{"name": "t", "sha256": hash_key(API_KEY), "scopes": ["*"]}])}
    use_env(monkeypatch, secured.env("unibox"))
    unibox = unibox_bootstrap(UniboxSettings(database_url=second_schema.url, db_schema=second_schema.schema,
                                             **common), plusvibe_settings=unconfigured_plusvibe())
    assert unibox.settings.kafka_security.sasl_username == "unibox"  # read from the environment
    await unibox.runtime.migrate()
    stop = asyncio.Event()
    consumers = asyncio.create_task(run_consumers_until_stopped(unibox.runtime, stop))

    use_env(monkeypatch, secured.env("leads"))
    leads = leads_bootstrap(LeadsSettings(database_url=pg_database.url, db_schema=pg_database.schema, **common),
                            plusvibe_settings=unconfigured_plusvibe())
    assert leads.settings.kafka_security.sasl_username == "leads"
    app = leads_app(service=leads)
    relay = asyncio.create_task(run_relay_until_stopped(leads.runtime, stop))
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://leads", headers={"X-API-Key": API_KEY}
        ) as client:
            email = f"ada+{uuid.uuid4().hex[:8]}@acme.test"
            r = await client.post("/api/leads", json={"companyName": "Acme", "domain": "acme.test",
                                                      "contact": {"firstName": "Ada", "lastName": "B", "email": email}})
            assert r.status_code == 201, r.text
            lead_id = uuid.UUID(r.json()["id"])

            deadline = time.monotonic() + 45
            row = None
            while row is None and time.monotonic() < deadline:
                assert not relay.done() and not consumers.done(), "a Kafka loop died"
                async with unibox.runtime.engine.connect() as conn:
                    row = (await conn.execute(select(lead_projection.c.email)
                                              .where(lead_projection.c.lead_id == lead_id))).first()
                await asyncio.sleep(0.2)
            assert row is not None, "unibox never applied the LeadUpserted relayed by leads over SASL_SSL"
            assert row.email == email.lower()

            ready = await client.get("/health/ready")  # the API's broker probe authenticates too
            assert ready.json()["checks"]["kafka"] == "ok", ready.text
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(relay, consumers, return_exceptions=True), 45)
        await unibox.runtime.dispose()
        await leads.runtime.dispose()
    assert relay.exception() is None and consumers.exception() is None


async def test_a_wrong_password_stops_the_relay_and_the_consumers_at_start_naming_authentication(
    secured: Secured, pg_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unibox.bootstrap import bootstrap as unibox_bootstrap
    from unibox.settings import UniboxSettings

    wrong = "not-" + secured.passwords["unibox"]
    use_env(monkeypatch, secured.env("unibox", password=wrong))
    unibox = unibox_bootstrap(UniboxSettings(database_url=pg_database.url, db_schema=pg_database.schema,
                                             kafka_bootstrap_servers=secured.broker.bootstrap, log_json=False),
                              plusvibe_settings=unconfigured_plusvibe())
    await unibox.runtime.migrate()
    try:
        for loop in (run_relay_until_stopped, run_consumers_until_stopped):
            started = time.monotonic()
            with pytest.raises(KafkaStartupError) as failure:
                await asyncio.wait_for(loop(unibox.runtime, asyncio.Event()), STARTUP_ERROR_BOUND_S)
            elapsed = time.monotonic() - started
            message = str(failure.value)
            assert "authentication failed" in message and "'unibox'" in message, message
            assert "SCRAM-SHA-512" in message
            assert wrong not in message  # the password is never part of an error
            assert elapsed < STARTUP_ERROR_BOUND_S
    finally:
        await unibox.runtime.dispose()

    with pytest.raises(KafkaStartupError, match="authentication failed"):
        await ensure_topics(secured.broker.bootstrap, [LEAD_UPSERTED], prefix=private_prefix(),
                            security=secured.security("admin", password="wrong"))


async def test_a_plaintext_client_against_the_sasl_ssl_port_fails_promptly_and_says_why(secured: Secured) -> None:
    producer = make_producer(secured.broker.bootstrap, "plaintext-probe", security=PLAINTEXT)
    started = time.monotonic()
    with pytest.raises(KafkaStartupError) as failure:
        await asyncio.wait_for(producer.start(), STARTUP_ERROR_BOUND_S)
    assert time.monotonic() - started < STARTUP_ERROR_BOUND_S
    assert "wants TLS/SASL" in str(failure.value) and "PLAINTEXT" in str(failure.value), failure.value


async def test_an_untrusted_broker_certificate_is_refused(secured: Secured, tmp_path: Path) -> None:
    import trustme

    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(trustme.CA().cert_pem.bytes())
    security = secured.security("leads", cafile=other_ca)
    with pytest.raises(KafkaStartupError, match="certificate is not trusted"):
        await make_producer(secured.broker.bootstrap, "untrusted", security=security).start()


async def test_scram_sha_256_and_mtls_connect_too(secured: Secured) -> None:
    await ensure_topics(secured.broker.bootstrap, [LEAD_UPSERTED], prefix=private_prefix(),
                        security=secured.security("leads", mechanism="SCRAM-SHA-256"))
    tls = secured.broker.tls_dir
    mtls = KafkaSecurity(security_protocol="SSL", ssl_cafile=tls / "ca.pem", ssl_certfile=tls / "client-cert.pem",
                         ssl_keyfile=tls / "client-key.pem")
    await ensure_topics(secured.broker.mtls_bootstrap, [LEAD_UPSERTED], prefix=private_prefix(), security=mtls)
    without_cert = KafkaSecurity(security_protocol="SSL", ssl_cafile=tls / "ca.pem")
    with pytest.raises(KafkaStartupError, match="client certificate"):
        await make_producer(secured.broker.mtls_bootstrap, "no-cert", security=without_cert).start()


def test_the_ops_cli_reads_a_command_config_file(secured: Secured, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka.sh's client.properties is Kafka-tools syntax (the broker's own readiness probe used it); the CLI
    reads the same file, and a wrong password in it is an error naming authentication, exit code 2."""
    clear_kafka_env(monkeypatch)  # nothing from the environment: the file alone
    prefix = private_prefix()
    asyncio.run(ensure_topics(secured.broker.bootstrap, [LEAD_UPSERTED], prefix=prefix,
                              security=read_command_config(secured.broker.client_properties)))
    runner = CliRunner()
    base = ["--bootstrap", secured.broker.bootstrap, "--prefix", prefix]
    ok = runner.invoke(ops_app, [*base, "--command-config", str(secured.broker.client_properties),
                                 "topics", "describe", LEAD_UPSERTED.name])
    assert ok.exit_code == 0, ok.output
    assert f"{prefix}{LEAD_UPSERTED.name}" in ok.output

    wrong = tmp_path / "wrong.properties"
    wrong.write_text(secured.broker.client_properties.read_text().replace(secured.passwords["admin"], "wrong-pw"))
    refused = runner.invoke(ops_app, [*base, "--command-config", str(wrong), "lag"])
    assert refused.exit_code == 2, refused.output
    assert "authentication failed" in " ".join(refused.output.split())

    no_config = runner.invoke(ops_app, [*base, "lag"])  # the env says PLAINTEXT: a clear refusal, not a hang
    assert no_config.exit_code == 2, no_config.output
    assert "TLS/SASL" in " ".join(no_config.output.split())
