"""The kit's own tables, present in every service's schema: the transactional outbox and the inbox."""

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

from servicekit.process.db import JsonType, UTCDateTime

kit_metadata = MetaData()

# BIGINT on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
_Id = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "outbox",
    kit_metadata,
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
# The relay only ever looks for unsent rows; on PostgreSQL the index holds just those.
Index("ix_outbox_unsent", outbox.c.id, postgresql_where=outbox.c.sent_at.is_(None), sqlite_where=outbox.c.sent_at.is_(None))

inbox = Table(
    "inbox",
    kit_metadata,
    Column("consumer_group", String(200), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
    # The body's digest (`servicekit.messaging.events.payload_digest`): a later record with this event id and another
    # digest is a conflicting reuse of the id, not a duplicate. NULL for rows claimed before kit tables v2.
    Column("payload_sha256", String(64), nullable=True),
    # The whole record's digest (`servicekit.messaging.events.record_digest`: key, value and headers): a later record
    # with this id and this digest is the same record again, skipped without being decoded (a replay).
    # NULL for rows claimed before kit tables v3.
    Column("record_sha256", String(64), nullable=True),
    PrimaryKeyConstraint("consumer_group", "event_id", name="pk_inbox"),
)
