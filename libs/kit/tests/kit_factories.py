from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts.envelope import Envelope
from contracts.leads import AuditRequested
from servicekit.messaging.events import encode, headers_for, kafka_headers, new_envelope


def audit_requested(domain: str = "example.test", lead_id: uuid.UUID | None = None) -> Envelope:
    lead = lead_id or uuid.uuid4()
    return new_envelope(
        AuditRequested(
            lead_id=lead,
            audit_run_id=uuid.uuid4(),
            domain=domain,
            requested_at=datetime.now(UTC),
            requested_by="test",
        )
    )


def record_of(env: Envelope) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    return (str(env.lead_id).encode(), encode(env), kafka_headers(headers_for(env)))
