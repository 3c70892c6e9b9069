"""The consumers the golden corpus is decoded by, found the way they run rather than from a list kept by hand.

Services: each `services/<name>/src/<name>/bootstrap.py` is called in-process, as its processes call it, with
SQLite settings and a stand-in PlusVibe port (nothing connects: the engine stays unopened, the FastStream broker
unstarted); its `runtime.consumers` are the kit's `EventConsumer`s with the topic and the `expected_types` their
records are decoded with, so a consumer added, moved or narrowed in a bootstrap is judged without this file
changing. `replay` then hands the records to the consumer's own `process`: whatever the kit does to a record
before a handler sees it (decoding, checks, the inbox) is what is judged, with only the service's handler (which needs the
service's tables) replaced by a recorder.

Outside the repository: `examples/lead_subscriber` is the consumer other teams copy; it validates records with
the published JSON Schemas and reads the CloudEvents headers, importing nothing from the platform.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from aiokafka import ConsumerRecord
from golden_corpus import GoldenRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.envelope import DLQ_HEADER_ERROR, DLQ_HEADER_OFFSET
from servicekit.messaging.consumer import ConsumerStats, EventConsumer, each
from servicekit.messaging.events import Decoded
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.settings import ServiceSettings
from servicekit.process.tables import kit_metadata

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLE_SUBSCRIBER: Final = ROOT / "examples" / "lead_subscriber" / "lead_subscriber.py"


def service_names() -> list[str]:
    """Every service with a composition root (a `bootstrap.py`)."""
    return sorted(path.parent.name for path in ROOT.glob("services/*/src/*/bootstrap.py"))


def _settings_class(service: str) -> type[ServiceSettings]:
    """The one `ServiceSettings` subclass the service's settings module defines."""
    module = importlib.import_module(f"{service}.settings")
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj is not ServiceSettings
             and obj.__module__ == module.__name__]
    if len(found) != 1:
        raise LookupError(f"{service}.settings defines {len(found)} ServiceSettings classes")
    return found[0]


@asynccontextmanager
async def consumers_of(service: str, data_dir: Path) -> AsyncIterator[list[EventConsumer[Any]]]:
    """The consumers `service`'s bootstrap registers, built in this process (SQLite under `data_dir`)."""
    bootstrap = importlib.import_module(f"{service}.bootstrap").bootstrap
    settings = _settings_class(service)(database_url=f"sqlite+aiosqlite:///{data_dir / service}.db",
                                        data_dir=data_dir)
    # A stand-in port: bootstraps that take one then build no PlusVibe client; nothing here calls it.
    options: dict[str, Any] = {"plusvibe": object()} if "plusvibe" in inspect.signature(bootstrap).parameters else {}
    runtime = bootstrap(settings, **options).runtime
    try:
        yield list(runtime.consumers)
    finally:
        await runtime.dispose()


def consumer_record(record: GoldenRecord, offset: int) -> ConsumerRecord[bytes, bytes]:
    """The golden record as aiokafka hands it to a consumer."""
    key = record.key.encode() if record.key is not None else None
    value = record.value_bytes
    return ConsumerRecord(topic=record.topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=key,
                          value=value, checksum=None, serialized_key_size=len(key) if key is not None else -1,
                          serialized_value_size=len(value), headers=tuple(record.kafka_headers))


@dataclass
class Replay:
    """What a consumer did with the records: the events its handler received, and the records it dead-lettered
    (`file name: the DLQ error`)."""

    handled: list[Decoded] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)


async def replay(consumer: EventConsumer[Any], records: Sequence[GoldenRecord], data_dir: Path) -> Replay:
    """Feeds `records` (as one batch) to `consumer.process`, on a fresh SQLite inbox under `data_dir`."""
    result = Replay()
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / consumer.group}.inbox.db")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(kit_metadata.create_all)
        sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

        async def handle(item: Decoded, uow: UnitOfWork) -> None:
            result.handled.append(item)

        async def dead_letter(value: bytes, topic: str, key: bytes | None, headers: dict[str, str]) -> None:
            result.parked.append(f"{records[int(headers[DLQ_HEADER_OFFSET])].path.name}: {headers[DLQ_HEADER_ERROR]}")

        probe = dataclasses.replace(consumer, handle=each(handle), uow_factory=lambda: UnitOfWork(sessions),
                                    dlq_publish=dead_letter, stats=ConsumerStats())
        await probe.process([consumer_record(record, offset) for offset, record in enumerate(records)])
    finally:
        await engine.dispose()
    return result


def example_subscriber() -> ModuleType:
    """`examples/lead_subscriber/lead_subscriber.py`, imported from its file (it is no package)."""
    spec = importlib.util.spec_from_file_location("golden_lead_subscriber", EXAMPLE_SUBSCRIBER)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {EXAMPLE_SUBSCRIBER}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
