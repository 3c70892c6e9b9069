"""Tables of the unibox schema: the email→lead projection, the inbound webhook log, reply intents, the opens
already announced, the PlusVibe credentials and the webhook secrets (both from leads' PlusVibeIntegrationChanged,
sealed).

Every row belongs to a platform workspace (`workspace`, docs/WORKSPACES.md): rows from before workspaces belong to
`default`. What is unique per workspace (an idempotency key, a webhook payload) is unique per (workspace, …)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from plusvibe.credential_store import credentials_table
from servicekit.process.db import JsonType, UTCDateTime

metadata = MetaData()


def workspace_column() -> Column[str]:
    """The platform workspace a row belongs to (the one of its event, webhook route or request)."""
    return Column("workspace", String(100), nullable=False, server_default="default")


# Projection of leads.LeadUpserted: newest `version` wins. A lead id is unique across workspaces (leads issues it);
# an address is not: the same email may be a lead in two workspaces, so it is looked up per workspace.
lead_projection = Table(
    "lead_projection",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    workspace_column(),
    Column("version", Integer, nullable=False),
    Column("email", String(320), nullable=True),  # lower-cased
    Column("campaign_id", String(64), nullable=True),
    Column("status", String(40), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("opens_checked_at", UTCDateTime, nullable=True),
)
Index("ix_lead_projection_email", lead_projection.c.workspace, lead_projection.c.email)

# Every verified webhook, stored raw before anything else happens; one row per distinct payload and workspace (the
# same payload delivered for two workspaces is two events, one for each).
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("dedupe_key", String(64), nullable=False),
    Column("webhook_event", String(120), nullable=False),
    Column("payload", JsonType, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("last_received_at", UTCDateTime, nullable=False),
    Column("deliveries", Integer, nullable=False, default=1),
    Column("processed_at", UTCDateTime, nullable=True),
    Column("activity", String(40), nullable=True),
    Column("lead_id", Uuid, nullable=True),
    Column("outcome", String(40), nullable=True),
    # The platform workspace whose route and secret the webhook arrived through (its events carry it).
    workspace_column(),
    UniqueConstraint("workspace", "dedupe_key", name="uq_webhook_events_workspace_dedupe_key"),
)
Index("ix_webhook_events_unprocessed", webhook_events.c.received_at,
      postgresql_where=webhook_events.c.processed_at.is_(None),
      sqlite_where=webhook_events.c.processed_at.is_(None))

# One row per client idempotency key and workspace (a key chosen in one workspace never replays another's reply),
# committed before PlusVibe is called.
reply_intents = Table(
    "reply_intents",
    metadata,
    Column("id", Uuid, primary_key=True),
    workspace_column(),
    Column("idempotency_key", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(20), nullable=False),  # pending | sent | unconfirmed | failed | retryable
    Column("reply_to_id", String(100), nullable=False),
    Column("from_address", String(320), nullable=False),
    Column("to_address", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("lead_id", Uuid, nullable=True),
    Column("plusvibe_email_id", String(100), nullable=True),
    Column("reconciled", Boolean, nullable=False, default=False),
    Column("error_reason", String(60), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    UniqueConstraint("workspace", "idempotency_key", name="uq_reply_intents_workspace_idempotency_key"),
)

# An EmailActivityReceived(opened) was emitted for this lead in this campaign.
opens_seen = Table(
    "opens_seen",
    metadata,
    Column("lead_id", Uuid, nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    workspace_column(),
    PrimaryKeyConstraint("lead_id", "campaign_id", name="pk_opens_seen"),
)

# The newest PlusVibeIntegrationChanged per platform workspace, the API key still sealed (plusvibe.credential_store).
plusvibe_credentials = credentials_table(metadata)

# The newest webhook secret per platform workspace (PlusVibeIntegrationChanged.sealed_webhook_secret), still sealed
# under the KEK for `contracts.integrations.webhook_secret_context(workspace)`. '' = no hook registered (or the
# integration disconnected): the workspace's route refuses every delivery. Unibox's own table, beside the shared
# `plusvibe_credentials` (writeback keeps that one too and has no use for the secret).
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("workspace", Text, primary_key=True),
    Column("sealed_secret", Text, nullable=False, server_default=text("''")),
    Column("version", Integer, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)
