"""Large values are compressed with lz4 on the engine's PostgreSQL connections (servicekit.process.db.
compress_toast_with_lz4_on_connect), the server's own default when the setting says "server", and a server that
refuses lz4 leaves the connection working."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text

from servicekit.process import db as db_module
from servicekit.process.db import ToastCompression, create_engine, prefer_lz4_toast_compression
from servicekit.process.tables import kit_metadata, outbox
from servicekit.testing import Database

pytestmark = [pytest.mark.postgres]


def _large_payload() -> bytes:
    """~3 KB of the JSON an outbox row carries, compressible as real payloads are (repeated keys and words), over
    the ~2 KB at which PostgreSQL compresses a row's values."""
    words = ["website", "audit", "mobile", "booking", "reviews", "speed", "trust", "contact", "form", "offer"]
    rng = random.Random(7)
    body = {f"custom_{i}": " ".join(rng.choice(words) for _ in range(14)) for i in range(24)}
    payload = json.dumps({"event_type": "LeadUpserted", "data": body}).encode()
    assert len(payload) > 2500
    return payload


async def _stored_with(pg_database: Database, setting: ToastCompression) -> tuple[str, str]:
    """Writes one large outbox row through an engine built with `setting`; the method its payload and headers were
    stored with, and the server's own default."""
    engine = create_engine(pg_database.url, schema=pg_database.schema, toast_compression=setting)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(kit_metadata.create_all)
            event_id = uuid4()
            await conn.execute(outbox.insert().values(
                event_id=event_id, event_type="LeadUpserted", topic="t", msg_key=None,
                headers={f"h{i}": "value " * 60 for i in range(8)}, payload=_large_payload(),
                created_at=datetime.now(UTC)))
            row = (await conn.execute(text(
                "SELECT pg_column_compression(payload) AS payload, pg_column_compression(headers) AS headers "
                "FROM outbox WHERE event_id = :id"), {"id": event_id})).one()
            await conn.execute(text("DELETE FROM outbox"))
        plain_engine = create_engine(pg_database.url, toast_compression="server")
        try:
            async with plain_engine.connect() as plain:
                default = (await plain.execute(text("SHOW default_toast_compression"))).scalar_one()
        finally:
            await plain_engine.dispose()
    finally:
        await engine.dispose()
    assert row.payload == row.headers, row
    return str(row.payload), str(default)


async def test_large_values_are_stored_with_lz4(pg_database: Database) -> None:
    method, _ = await _stored_with(pg_database, "lz4")
    assert method == "lz4"


async def test_the_server_setting_leaves_the_servers_default(pg_database: Database) -> None:
    method, default = await _stored_with(pg_database, "server")
    assert method == default


class _RefusingServer:
    """An asyncpg connection of a server built without lz4: the SET is refused as PostgreSQL refuses it."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    async def execute(self, statement: str, *args: Any) -> str:
        import asyncpg

        self.statements.append(statement)
        raise asyncpg.InvalidParameterValueError('invalid value for parameter "default_toast_compression": "lz4"')


async def test_a_server_without_lz4_keeps_its_own_and_the_connection_works(pg_database: Database) -> None:
    refusing = _RefusingServer()
    assert await prefer_lz4_toast_compression(refusing) is False
    assert refusing.statements == ["SET default_toast_compression = lz4"]
    import asyncpg

    conn = await asyncpg.connect(pg_database.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await prefer_lz4_toast_compression(conn) is True
        assert await conn.fetchval("SHOW default_toast_compression") == "lz4"
    finally:
        await conn.close()


async def test_an_engine_whose_server_refuses_the_method_connects_and_writes(pg_database: Database,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the engine's own connect hook: a server that refuses the method (here asked for one PostgreSQL does
    not know, refused as a build without lz4 refuses lz4) leaves every connection usable, with the server's method."""
    monkeypatch.setattr(db_module, "PREFER_LZ4", "SET default_toast_compression = zstd")
    method, default = await _stored_with(pg_database, "lz4")
    assert method == default
