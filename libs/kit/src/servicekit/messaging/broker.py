"""The FastStream Kafka broker every service uses: an idempotent `acks=all` producer for DLQ and direct
publishes (domain events go through the outbox relay instead), connected with the kit's Kafka security. It also
starts and stops the kit's consumer-group subscribers (`servicekit.messaging.subscriber`) with itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaBroker

from servicekit.messaging.kafka_config import (
    PRODUCER_SAFETY,
    KafkaSecurity,
    broker_security,
    resolve,
    start_client,
    startup_wait_s,
)

if TYPE_CHECKING:
    from servicekit.messaging.subscriber import GroupSubscriber


class KitKafkaBroker(KafkaBroker):
    """A `KafkaBroker` whose failed start says why (wrong password, untrusted certificate, plaintext against a
    TLS listener, ...) as `KafkaStartupError`, instead of aiokafka's bare "Unable to bootstrap", and leaves no
    half-started client behind."""

    def __init__(self, bootstrap_servers: str, *, kit_security: KafkaSecurity, **kwargs: Any) -> None:
        super().__init__(bootstrap_servers, security=broker_security(kit_security), **kwargs)
        self.kit_bootstrap = bootstrap_servers
        self.kit_security = kit_security
        self.kit_client_id: str | None = kwargs.get("client_id")
        # The consumer-group members of `servicekit.messaging.subscriber.subscribe`, started after the producer.
        self.kit_subscribers: list[GroupSubscriber] = []

    async def start(self) -> None:
        try:
            await start_client(super().start, self.kit_bootstrap, self.kit_security,
                               what=f"Kafka broker client {self.kit_client_id!r}", wait_s=startup_wait_s(),
                               reset=self._stop_quietly)
            for subscriber in self.kit_subscribers:
                await subscriber.start()
        except Exception:
            with contextlib.suppress(Exception):
                await self.stop()
            raise

    async def stop(self, exc_type: type[BaseException] | None = None, exc_val: BaseException | None = None,
                   exc_tb: TracebackType | None = None) -> None:
        """Stops the subscribers first (each finishes its batch in hand, which may still park a record through
        this broker's producer), then the producer."""
        try:
            await asyncio.gather(*(subscriber.stop() for subscriber in self.kit_subscribers))
        finally:
            await super().stop(exc_type, exc_val, exc_tb)

    async def _stop_quietly(self) -> None:
        """Undoes a start the broker cut short: the producer and every subscriber's consumer are built anew by the
        next `start()`."""
        with contextlib.suppress(Exception):
            await super().stop()


def create_broker(bootstrap_servers: str, *, client_id: str, security: KafkaSecurity | None = None) -> KitKafkaBroker:
    """`security`: `ServiceSettings.kafka_security`; None reads the same `KAFKA_*` variables."""
    # apply_types=False: FastStream's dependency injection serves nothing here (the kit's own subscribers read the
    # records: servicekit.messaging.subscriber).
    return KitKafkaBroker(
        bootstrap_servers,
        kit_security=resolve(security),
        client_id=client_id,
        logger=logging.getLogger(f"faststream.{client_id}"),
        graceful_timeout=30.0,
        apply_types=False,
        **PRODUCER_SAFETY,
    )
