"""Writes the golden corpus (contracts/tests/golden/): one frozen Kafka record per event type, version and variant.

    .venv/bin/python contracts/tests/golden_generate.py            # writes the fixtures that do not exist yet
    .venv/bin/python contracts/tests/golden_generate.py --dry-run  # lists them

Why frozen: a record stays on its topic long after the code that wrote it is gone (`leads.lead-upserted.v1` is
compacted and kept forever), so today's consumers must still decode what yesterday's producers emitted. A
fixture is therefore written once and never rewritten: this script opens every file with exclusive creation
and leaves an existing one alone, whatever the builders (golden_samples.py) would produce today. The golden
test (test_contracts_golden_corpus.py) decodes every fixture with the current contracts and every consumer.

Each file is the record exactly as the producer path hands it to Kafka: the event is written to a real outbox
(`UnitOfWork.add_envelope`, SQLite) and published by the real `OutboxRelay` to a capturing producer, so the
value is `servicekit.messaging.events.encode`'s bytes, the headers are `headers_for` plus the `traceparent` the outbox
copies from the current trace, and the key is the relay's. Name: `<EventType>.v<EVENT_VERSION>.<variant>.json`;
content: `{"topic", "key", "headers": {name: value}, "value": "<the envelope JSON, byte for byte>"}` (header
values are UTF-8 on the wire; their order is not significant: PostgreSQL's JSONB outbox column does not keep it).

Adding fixtures (never edit, rename or delete a committed one):

- A new event type: add its builders to `golden_samples.SAMPLES` (a `minimal` variant and, if it has optional
  fields, a `full` one), run this script and commit the new files. The test fails while a registered type has
  no fixture.
- A new version (`EVENT_VERSION` raised, which also writes a new schema snapshot): update the type's builders
  to the new model and run this script; it writes `<Type>.v<N>.<variant>.json` beside the frozen older files.
  Those stay: every record of the old version still on a topic must decode with the registry as it is now, and
  the test says so loudly when it no longer does (deciding that nobody reads them any more is a retirement).
- A new optional field within a version (producers add fields without a version bump): add a variant that
  fills it (e.g. `"full-sentiment"`) and run this script; the test fails while an optional field is filled in
  no fixture. Editing the builder of an existing variant changes nothing: its file is frozen.
- Retiring a fixture is only right once no record of that type and version can be read from any topic (mind
  retention: forever for compacted topics), and is a reviewed deletion, never a regeneration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from golden_samples import SAMPLES, Sample, event_id
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.envelope import HEADER_EVENT_ID, Envelope
from contracts.registry import EVENT_MODELS
from servicekit.messaging.events import new_envelope
from servicekit.messaging.relay import OutboxRelay
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.db import create_engine
from servicekit.process.tables import kit_metadata

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def fixture_stem(event_type: str, version: int, variant: str) -> str:
    return f"{event_type}.v{version}.{variant}"


@dataclass(frozen=True)
class Planned:
    """A fixture to write: its file stem and the event it holds."""

    stem: str
    sample: Sample


def planned() -> list[Planned]:
    """Every fixture the builders describe for the CURRENT version of each registered event type."""
    missing = sorted(set(EVENT_MODELS) - set(SAMPLES))
    if missing:
        raise SystemExit(f"no golden samples for {', '.join(missing)}: add builders to golden_samples.SAMPLES")
    out: list[Planned] = []
    for event_type, build in SAMPLES.items():
        model = EVENT_MODELS[event_type]
        for variant, sample in build().items():
            if type(sample.data) is not model:
                raise SystemExit(f"golden sample {event_type}/{variant} builds a {type(sample.data).__name__}")
            out.append(Planned(fixture_stem(event_type, model.EVENT_VERSION, variant), sample))
    return out


def pending(directory: Path = GOLDEN_DIR) -> list[Planned]:
    """The planned fixtures that have no file yet: the only ones this script will write."""
    return [p for p in planned() if not (directory / f"{p.stem}.json").exists()]


def envelope_of(item: Planned) -> Envelope:
    """The envelope `UnitOfWork.publish` builds (`new_envelope`), with fixed ids where it would draw random ones
    or copy them from the causing envelope."""
    sample = item.sample
    envelope = new_envelope(sample.data, workspace_id=sample.workspace_id, correlation_id=sample.correlation_id,
                            occurred_at=sample.occurred_at)
    return envelope.model_copy(update={"event_id": event_id(item.stem), "causation_id": sample.causation_event_id})


@contextlib.contextmanager
def _current_trace(traceparent: str | None) -> Iterator[None]:
    """Makes `traceparent` the current trace context, as it is while a handler or request publishes."""
    if traceparent is None:
        yield
        return
    _, trace_id, span_id, flags = traceparent.split("-")
    context = trace.SpanContext(trace_id=int(trace_id, 16), span_id=int(span_id, 16), is_remote=True,
                                trace_flags=trace.TraceFlags(int(flags, 16)))
    with trace.use_span(trace.NonRecordingSpan(context)):
        yield


class _CapturingProducer:
    """Stands in for the relay's `AIOKafkaProducer`: keeps what `send` is given, acknowledges at once."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def send(self, topic: str, *, value: bytes, key: bytes | None,
                   headers: Sequence[tuple[str, bytes]]) -> asyncio.Future[None]:
        self.records.append({
            "topic": topic,
            "key": key.decode() if key is not None else None,
            "headers": {name: raw.decode() for name, raw in headers},  # the kit never repeats a header name
            "value": value.decode(),  # the envelope is UTF-8 JSON; stored as text, byte for byte
        })
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


async def produce(items: Sequence[Planned]) -> dict[str, dict[str, Any]]:
    """Stem → the Kafka record the outbox and relay produce for it."""
    captured = _CapturingProducer()
    with TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/outbox.db")
        try:
            async with engine.begin() as conn:
                await conn.run_sync(kit_metadata.create_all)
            sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
            envelopes: dict[str, tuple[str, Envelope, str | None]] = {}
            for item in items:
                envelope = envelope_of(item)
                envelopes[str(envelope.event_id)] = (item.stem, envelope, item.sample.traceparent)
            for _, envelope, traceparent in envelopes.values():
                async with UnitOfWork(sessions) as uow:
                    with _current_trace(traceparent):
                        uow.add_envelope(envelope)
                    await uow.commit()
            relay = OutboxRelay(engine, cast(AIOKafkaProducer, captured), batch_size=len(envelopes) + 1)
            await relay.publish_once()
        finally:
            await engine.dispose()
    by_stem: dict[str, dict[str, Any]] = {}
    for record in captured.records:
        event = record["headers"][HEADER_EVENT_ID]
        by_stem[envelopes[event][0]] = record
    if set(by_stem) != {item.stem for item in items}:
        raise RuntimeError("the relay did not publish every planned fixture")
    return by_stem


def write_new(directory: Path = GOLDEN_DIR, *, dry_run: bool = False) -> list[Path]:
    """Writes every pending fixture; never touches an existing file (exclusive creation). Returns the new files."""
    todo = pending(directory)
    if dry_run or not todo:
        return [directory / f"{p.stem}.json" for p in todo]
    records = asyncio.run(produce(todo))
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for item in todo:
        path = directory / f"{item.stem}.json"
        with path.open("x", encoding="utf-8") as out:  # FileExistsError rather than overwrite a frozen fixture
            out.write(json.dumps(records[item.stem], indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="list the fixtures that would be written")
    parser.add_argument("--dir", type=Path, default=GOLDEN_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    frozen = len(planned()) - len(pending(args.dir))
    paths = write_new(args.dir, dry_run=args.dry_run)
    verb = "would write" if args.dry_run else "wrote"
    for path in paths:
        print(f"{verb} {path}")
    print(f"{verb} {len(paths)} fixture(s); {frozen} already frozen and left untouched", file=sys.stderr)


if __name__ == "__main__":
    main()
