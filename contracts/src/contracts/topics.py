"""The topic registry: the single place where topic names exist (docs/ARCHITECTURE.md, Events).

One topic per event type, `<producer>.<event-kebab>.v<major>`, keyed by `lead_id` (the integration topic by
workspace); each has a dead-letter topic `<topic>.dlq`. Deploy manifests, the local broker script and
docker-compose's init job are generated from this table.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

DAY_MS: Final = 24 * 60 * 60 * 1000
# Kafka's `retention.ms` for "never delete by age".
INFINITE_RETENTION_MS: Final = -1
# Dead-letter topics keep a record for 90 days, whatever the origin topic keeps: a parked record waits for a
# human (inspect, fix, redrive) and the DLQ-age alert fires long before that; bounded rather than infinite
# because a DLQ holds copies of lead data (emails, names) that must not outlive every use of it.
DLQ_RETENTION_MS: Final = 90 * DAY_MS


class TopicSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    event_type: str
    producer: str
    partitions: int
    retention_ms: int
    compacted: bool = False

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


def _spec(producer: str, kebab: str, event_type: str, *, partitions: int = 6, days: int | None = 14,
          compacted: bool = False) -> TopicSpec:
    """`days=None`: kept forever (a compacted topic then holds the latest record of every key)."""
    return TopicSpec(
        name=f"{producer}.{kebab}.v1",
        event_type=event_type,
        producer=producer,
        partitions=partitions,
        retention_ms=INFINITE_RETENTION_MS if days is None else days * DAY_MS,
        compacted=compacted,
    )


# The lead snapshot: compacted and never deleted by age, so a new subscriber bootstraps every lead from offset 0
# (the latest snapshot of each), not only the leads that changed within some window.
LEAD_UPSERTED: Final = _spec("leads", "lead-upserted", "LeadUpserted", compacted=True, days=None)
LEAD_STATUS_CHANGED: Final = _spec("leads", "lead-status-changed", "LeadStatusChanged", days=30)
AUDIT_REQUESTED: Final = _spec("leads", "audit-requested", "AuditRequested")
WRITEBACK_REQUESTED: Final = _spec("leads", "writeback-requested", "WritebackRequested", partitions=3)
LEAD_PUSHED: Final = _spec("leads", "lead-pushed", "LeadPushed")
LEAD_REMOVED_FROM_CAMPAIGN: Final = _spec(
    "leads", "lead-removed-from-campaign", "LeadRemovedFromCampaign", partitions=3
)
LEAD_COMPLETED_IN_CAMPAIGN: Final = _spec(
    "leads", "lead-completed-in-campaign", "LeadCompletedInCampaign", partitions=3
)
LEAD_SEND_AT_RISK: Final = _spec("leads", "lead-send-at-risk", "LeadSendAtRisk", partitions=3)
AUDIT_STARTED: Final = _spec("audits", "audit-started", "AuditStarted")
AUDIT_COMPLETED: Final = _spec("audits", "audit-completed", "AuditCompleted")
AUDIT_FAILED: Final = _spec("audits", "audit-failed", "AuditFailed", partitions=3)
WRITEBACK_COMPLETED: Final = _spec("writeback", "writeback-completed", "WritebackCompleted")
WRITEBACK_FAILED: Final = _spec("writeback", "writeback-failed", "WritebackFailed", partitions=3)
EMAIL_ACTIVITY_RECEIVED: Final = _spec("unibox", "email-activity-received", "EmailActivityReceived")
REPLY_SENT: Final = _spec("unibox", "reply-sent", "ReplySent", partitions=3)
THREAD_MARKED_READ: Final = _spec("unibox", "thread-marked-read", "ThreadMarkedRead", partitions=3)
# A workspace's PlusVibe integration (the API key sealed, never in clear): keyed by workspace, compacted and kept, so
# a new consumer learns every workspace's current credentials from offset 0. One partition: a handful of records.
PLUSVIBE_INTEGRATION_CHANGED: Final = _spec("leads", "plusvibe-integration-changed", "PlusVibeIntegrationChanged",
                                            partitions=1, compacted=True, days=None)
# How copy is written per workspace and campaign: keyed `<workspace>:<campaign>`, compacted and kept (a new consumer
# learns every setting from offset 0). One partition: a handful of records per workspace.
COPY_SETTINGS_CHANGED: Final = _spec("leads", "copy-settings-changed", "CopySettingsChanged", partitions=1,
                                     compacted=True, days=None)

ALL_TOPICS: Final[tuple[TopicSpec, ...]] = (
    LEAD_UPSERTED,
    LEAD_STATUS_CHANGED,
    AUDIT_REQUESTED,
    WRITEBACK_REQUESTED,
    LEAD_PUSHED,
    LEAD_REMOVED_FROM_CAMPAIGN,
    LEAD_COMPLETED_IN_CAMPAIGN,
    LEAD_SEND_AT_RISK,
    AUDIT_STARTED,
    AUDIT_COMPLETED,
    AUDIT_FAILED,
    WRITEBACK_COMPLETED,
    WRITEBACK_FAILED,
    EMAIL_ACTIVITY_RECEIVED,
    REPLY_SENT,
    THREAD_MARKED_READ,
    PLUSVIBE_INTEGRATION_CHANGED,
    COPY_SETTINGS_CHANGED,
)

TOPIC_BY_EVENT_TYPE: Final[dict[str, TopicSpec]] = {t.event_type: t for t in ALL_TOPICS}
TOPIC_BY_NAME: Final[dict[str, TopicSpec]] = {t.name: t for t in ALL_TOPICS}
