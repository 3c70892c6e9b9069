"""The kit tables as the kit history's first revision (`kit0001`) creates them: kit tables v3, frozen.

Never edit this file: a change of the kit tables is a new revision of the kit history (servicekit.kit_migrations),
which adds to what this creates. A service's first revision (`servicekit.process.migrate.create_kit_tables`) creates the
same, so the two meet in either order: whichever runs first creates the tables, the other finds them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
)
from sqlalchemy.engine import Connection

from servicekit.process.db import JsonType, UTCDateTime

_metadata = MetaData()
_Id = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "outbox",
    _metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("msg_key", String(255), nullable=True),
    Column("headers", JsonType, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
)
Index("ix_outbox_unsent", outbox.c.id, postgresql_where=outbox.c.sent_at.is_(None), sqlite_where=outbox.c.sent_at.is_(None))

inbox = Table(
    "inbox",
    _metadata,
    Column("consumer_group", String(200), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
    Column("payload_sha256", String(64), nullable=True),  # kit tables v2
    Column("record_sha256", String(64), nullable=True),  # kit tables v3
    PrimaryKeyConstraint("consumer_group", "event_id", name="pk_inbox"),
)


def create_tables(connection: Connection) -> None:
    """Creates the outbox and the inbox (with the outbox's index) where they are missing."""
    _metadata.create_all(connection, tables=[outbox, inbox], checkfirst=True)
