"""The FastStream Kafka broker every service uses: an idempotent `acks=all` producer for DLQ and direct
publishes (domain events go through the outbox relay instead), connected with the kit's Kafka security."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from faststream.kafka import KafkaBroker

from servicekit.messaging.kafka_config import (
    PRODUCER_SAFETY,
    KafkaSecurity,
    broker_security,
    resolve,
    start_client,
    startup_wait_s,
)


class KitKafkaBroker(KafkaBroker):
    """A `KafkaBroker` whose failed start says why (wrong password, untrusted certificate, plaintext against a
    TLS listener, ...) as `KafkaStartupError`, instead of aiokafka's bare "Unable to bootstrap", and leaves no
    half-started client behind."""

    def __init__(self, bootstrap_servers: str, *, kit_security: KafkaSecurity, **kwargs: Any) -> None:
        super().__init__(bootstrap_servers, security=broker_security(kit_security), **kwargs)
        self._kit_bootstrap = bootstrap_servers
        self._kit_security = kit_security

    async def start(self) -> None:
        try:
            await start_client(super().start, self._kit_bootstrap, self._kit_security,
                               what=f"Kafka broker client {self.config.client_id!r}", wait_s=startup_wait_s(),
                               reset=self._stop_quietly)
        except Exception:
            with contextlib.suppress(Exception):
                await super().stop()
            raise

    async def _stop_quietly(self) -> None:
        """Undoes a start the broker cut short: the producer and every subscriber's consumer are built anew by the
        next `start()`."""
        with contextlib.suppress(Exception):
            await super().stop()


def create_broker(bootstrap_servers: str, *, client_id: str, security: KafkaSecurity | None = None) -> KafkaBroker:
    """`security`: `ServiceSettings.kafka_security`; None reads the same `KAFKA_*` variables."""
    # apply_types=False: the kit's subscribers take the raw records (servicekit.messaging.consumer.subscribe) and decode
    # them with the contracts; FastStream's dependency injection resolved the message argument in a worker
    # thread on every batch (~4 % of a consumer's CPU in the pipeline profile) and served nothing.
    return KitKafkaBroker(
        bootstrap_servers,
        kit_security=resolve(security),
        client_id=client_id,
        logger=logging.getLogger(f"faststream.{client_id}"),
        graceful_timeout=30.0,
        apply_types=False,
        **PRODUCER_SAFETY,
    )
