"""The envelope every event travels in (CloudEvents-compatible field meanings; docs/ARCHITECTURE.md, Events).

`data` holds the event body; `event_type` selects its model in `contracts.registry`. `event_id` is the
idempotency key consumers record in their inbox. `event_type` and the ids are mirrored in Kafka headers.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# The largest record value (an encoded envelope) a producer may write and a consumer accepts; a consumer parks a
# bigger one. Below the broker's default `max.message.bytes` (1,048,588, which the topics keep), leaving room for
# the key, the headers and, on the parked copy, the dead-letter headers.
MAX_RECORD_BYTES: Final = 1_000_000


# `event_version` is the contract's MAJOR version (the `v<major>` of its topic name). An additive change (a new
# optional field, a new enum value) keeps the number, and older consumers ignore what they do not know; a breaking
# change is a new major on a new topic, so a record whose `event_version` is above the one the consumer's registry
# knows is a future major and is parked (docs/ARCHITECTURE.md, Events).
class Envelope(BaseModel):
    """One event on the wire: metadata plus the body (`data`) as a JSON object."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID
    event_type: str = Field(min_length=1)
    event_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str = Field(min_length=1)
    lead_id: UUID | None = None
    workspace_id: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    data: dict[str, Any]


class EventData(BaseModel):
    """Base of every event body. Frozen; unknown fields are ignored so that additive changes made by
    a producer never break an older consumer."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    EVENT_TYPE: ClassVar[str]
    EVENT_VERSION: ClassVar[int] = 1
    PRODUCER: ClassVar[str]


# Kafka header names (values are UTF-8 strings).
HEADER_EVENT_ID = "event_id"
HEADER_EVENT_TYPE = "event_type"
HEADER_EVENT_VERSION = "event_version"
HEADER_LEAD_ID = "lead_id"
HEADER_CORRELATION_ID = "correlation_id"
HEADER_CAUSATION_ID = "causation_id"
HEADER_TRACEPARENT = "traceparent"
HEADER_CONTENT_TYPE = "content-type"

# CloudEvents 1.0, Kafka protocol binding, binary content mode: the attributes as `ce_`-prefixed headers beside
# the envelope headers above; the record value (the whole envelope) is the CloudEvent's data.
HEADER_CE_SPECVERSION = "ce_specversion"
HEADER_CE_ID = "ce_id"  # = event_id
HEADER_CE_SOURCE = "ce_source"  # = CLOUDEVENTS_SOURCE_PREFIX + producer, e.g. "/outreach/audits"
HEADER_CE_TYPE = "ce_type"  # = CLOUDEVENTS_TYPE_PREFIX + event_type, e.g. "io.outreach.AuditCompleted"
HEADER_CE_TIME = "ce_time"  # = occurred_at, RFC 3339 in UTC
HEADER_CE_SUBJECT = "ce_subject"  # = lead_id, when the event is about a lead
HEADER_CE_WORKSPACE = "ce_workspaceid"  # extension attribute = workspace_id, when set
CLOUDEVENTS_SPECVERSION = "1.0"
CLOUDEVENTS_SOURCE_PREFIX = "/outreach/"
CLOUDEVENTS_TYPE_PREFIX = "io.outreach."

# Dead-letter headers: where the record came from and why it was parked.
DLQ_HEADER_TOPIC = "dlq_origin_topic"
DLQ_HEADER_PARTITION = "dlq_origin_partition"
DLQ_HEADER_OFFSET = "dlq_origin_offset"
DLQ_HEADER_GROUP = "dlq_consumer_group"
DLQ_HEADER_ERROR_CLASS = "dlq_error_class"
DLQ_HEADER_ERROR = "dlq_error"
DLQ_HEADER_FAILED_AT = "dlq_failed_at"
# Set only when the parked copy would not fit the broker's record size: how many of the record's own headers were
# left off, and the length of a value that had to be cut (the origin offset holds the whole record while retained).
DLQ_HEADER_HEADERS_DROPPED = "dlq_headers_dropped"
DLQ_HEADER_VALUE_TRUNCATED = "dlq_value_truncated"
