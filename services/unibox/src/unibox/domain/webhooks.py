"""PlusVibe webhook payloads → EmailActivityReceived fields (pure rules).

The payload is a flat JSON object (`webhook_event`, `email`, `label`, `sentiment`, …); a `data` wrapper
is unwrapped defensively. Unknown event types are kept and classified as `other`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

REPLY_EVENTS: Final = frozenset({"FIRST_EMAIL_REPLIES", "ALL_EMAIL_REPLIES", "ALL_POSITIVE_REPLIES"})
LABEL_PREFIX: Final = "LEAD_MARKED_AS_"
UNKNOWN_EVENT: Final = "UNKNOWN"
# Where PlusVibe (or its peers' conventions) may put the alert name of a SYSTEM_ALERT.
_ALERT_KEYS: Final = ("alert", "alert_type", "alert_name", "system_alert", "alert_event", "type")
_TIME_KEYS: Final = ("replied_date", "sent_at", "sent_date", "bounced_at", "timestamp", "created_at", "event_time")


@dataclass(frozen=True, slots=True)
class Activity:
    """What one webhook means for a lead."""

    activity: str  # sent | replied | bounced | label_changed | system_alert | other
    webhook_event: str
    email: str | None
    campaign_id: str | None
    label: str | None
    sentiment: str | None
    subject: str | None
    is_camp_paused: bool | None
    alert: str | None
    observed_at: datetime | None


def unwrap(payload: dict[str, Any]) -> dict[str, Any]:
    """The flat event object (some deliveries reportedly wrap it in `data`)."""
    inner = payload.get("data")
    if "webhook_event" not in payload and isinstance(inner, dict) and "webhook_event" in inner:
        return inner
    return payload


def event_name(payload: dict[str, Any]) -> str:
    flat = unwrap(payload)
    raw = flat.get("webhook_event") or flat.get("event_type") or flat.get("event")
    return str(raw).strip().upper() if isinstance(raw, str) and raw.strip() else UNKNOWN_EVENT


def dedupe_key(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the whole payload. A redelivery carries the same payload, so it
    gets the same key; two different events always differ somewhere (event name, ids, label, time)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _text(flat: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = flat.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "0", "no"}:
        return False
    return None


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO-8601 string or epoch seconds/milliseconds; None otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def lead_email(flat: dict[str, Any]) -> str | None:
    """The lead's address: `email` (lead field), else the replying address of a reply."""
    value = _text(flat, "email", "lead_email", "actual_replied_from", "from_email")
    return value.lower() if value else None


def classify(payload: dict[str, Any]) -> Activity:
    flat = unwrap(payload)
    name = event_name(payload)
    label = _text(flat, "label")
    sentiment = _text(flat, "sentiment")
    alert: str | None = None
    is_camp_paused: bool | None = None
    subject = _text(flat, "subject", "last_lead_reply_subject", "latest_subject")
    if name == "EMAIL_SENT":
        kind = "sent"
    elif name in REPLY_EVENTS or name.endswith("_REPLIES"):
        kind = "replied"
        subject = _text(flat, "subject", "last_lead_reply_subject", "latest_subject")
    elif name == "BOUNCED_EMAIL":
        kind = "bounced"
        is_camp_paused = bool(_bool(flat.get("is_camp_paused")))
    elif name.startswith(LABEL_PREFIX) and len(name) > len(LABEL_PREFIX):
        kind = "label_changed"
        label = label or name[len(LABEL_PREFIX):]
        subject = _text(flat, "last_lead_reply_subject", "latest_subject", "subject")
    elif name == "SYSTEM_ALERT":
        kind = "system_alert"
        alert = _text(flat, *_ALERT_KEYS)
        alerts = flat.get("alerts")
        if alert is None and isinstance(alerts, dict) and alerts:
            alert = str(next(iter(alerts)))
        paused = _bool(flat.get("is_camp_paused"))
        is_camp_paused = True if alert == "CAMPAIGN_AUTO_PAUSED" else paused
    else:
        kind = "other"
    observed = next((t for t in (parse_time(flat.get(k)) for k in _TIME_KEYS) if t is not None), None)
    return Activity(
        activity=kind,
        webhook_event=name,
        email=lead_email(flat),
        campaign_id=_text(flat, "campaign_id", "camp_id"),
        label=label,
        sentiment=sentiment,
        subject=subject,
        is_camp_paused=is_camp_paused,
        alert=alert,
        observed_at=observed,
    )
