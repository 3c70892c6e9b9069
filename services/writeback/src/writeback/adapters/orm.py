"""Tables of the writeback schema: the per-lead projection, the writeback attempts, the PlusVibe credentials
(leads' PlusVibeIntegrationChanged, the API key sealed) and the copy settings (leads' CopySettingsChanged).

Every lead belongs to one platform workspace (docs/WORKSPACES.md): its projection row and its attempts keep it
(`workspace`, from the events' envelopes; rows from before workspaces belong to `default`). Lead ids are globally
unique, so the lead id stays the key; the workspace scopes what the API shows and which PlusVibe port a
writeback goes through."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text, Uuid, false

from contracts.integrations import DEFAULT_WORKSPACE
from plusvibe.credential_store import credentials_table
from servicekit.process.db import JsonType, UTCDateTime

metadata = MetaData()

lead_projection = Table(
    "lead_projection",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("workspace", String(64), nullable=False, default=DEFAULT_WORKSPACE, server_default=DEFAULT_WORKSPACE),
    Column("snapshot_version", Integer, nullable=False, default=0),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("company_name", Text, nullable=True),
    Column("domain", Text, nullable=True),
    Column("first_name", Text, nullable=True),
    Column("last_name", Text, nullable=True),
    Column("job_title", Text, nullable=True),
    Column("contact_email", Text, nullable=True),
    Column("campaign_id", String(100), nullable=True),
    Column("link_email", Text, nullable=True),
    Column("link_at", UTCDateTime, nullable=True),
    Column("audit_run_id", Uuid, nullable=True),
    Column("audit_requested_at", UTCDateTime, nullable=True),
    Column("audit_completed_at", UTCDateTime, nullable=True),
    Column("profile", JsonType, nullable=True),
    Column("audit_event_id", Uuid, nullable=True),
    Column("audit_correlation_id", Uuid, nullable=True),
    Column("last_attempt_id", Uuid, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

writeback_attempts = Table(
    "writeback_attempts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("lead_id", Uuid, nullable=False),
    # The lead's workspace when the attempt was made: the PlusVibe port it is delivered through, and its events'.
    Column("workspace", String(64), nullable=False, default=DEFAULT_WORKSPACE, server_default=DEFAULT_WORKSPACE),
    Column("audit_run_id", Uuid, nullable=False),
    Column("audit_requested_at", UTCDateTime, nullable=False),
    Column("kind", String(10), nullable=False),  # auto | manual
    Column("request_id", Uuid, nullable=True),
    Column("campaign_id", String(100), nullable=True),
    Column("email", Text, nullable=True),
    Column("inputs", JsonType, nullable=False),
    Column("dedupe_key", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("delivered", Boolean, nullable=False, default=False),
    Column("variables", JsonType, nullable=True),
    Column("payload_hash", String(64), nullable=True),
    Column("payload_keys", JsonType, nullable=True),
    Column("steps", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("first_try_at", UTCDateTime, nullable=True),
    Column("next_try_at", UTCDateTime, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("completed_at", UTCDateTime, nullable=True),
    Column("causation_event_id", Uuid, nullable=True),
    Column("correlation_id", Uuid, nullable=True),
    Column("traceparent", String(55), nullable=True),  # W3C trace context of the causing event
    # The last PlusVibe call of this attempt may have been applied (worker died in it, or the connection was
    # lost after sending): the next try reads the lead back before sending again.
    Column("maybe_applied", Boolean, nullable=False, default=False, server_default=false()),
    # A manual writeback's copy setting, as leads saw it at the press (WritebackRequested); None: the stored one.
    Column("copy_tone", String(20), nullable=True),
    Column("copy_steps", Integer, nullable=True),
)
Index("ix_writeback_attempts_lead", writeback_attempts.c.lead_id, writeback_attempts.c.created_at)
Index("ix_writeback_attempts_request", writeback_attempts.c.request_id, unique=True)
# The delivery worker only ever scans pending attempts.
Index("ix_writeback_attempts_due", writeback_attempts.c.next_try_at,
      postgresql_where=writeback_attempts.c.status == "pending",
      sqlite_where=writeback_attempts.c.status == "pending")

# The newest PlusVibeIntegrationChanged per platform workspace, the API key still sealed (plusvibe.credential_store).
plusvibe_credentials = credentials_table(metadata)

# The newest CopySettingsChanged per platform workspace and campaign (campaign_id "": the workspace's default): the
# tone and step count each lead's copy is written with (domain.copy_settings). None: not set.
copy_settings = Table(
    "copy_settings",
    metadata,
    Column("workspace", Text, primary_key=True),
    Column("campaign_id", Text, primary_key=True),
    Column("tone", String(20), nullable=True),
    Column("steps", Integer, nullable=True),
    Column("version", Integer, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)
