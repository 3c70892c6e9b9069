"""Rules of an operator's reply: the request fingerprint behind an idempotency key, and how a sent
message is recognised in the thread when the send's outcome was ambiguous."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class ReplyDraft:
    """A reply after sanitising: what is sent and what the idempotency key is bound to."""

    reply_to_id: str
    from_address: str
    to_address: str
    subject: str
    body_html: str

    def fingerprint(self) -> str:
        raw = json.dumps([self.reply_to_id, self.from_address.lower(), self.to_address.lower(), self.subject,
                          self.body_html], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SeenMessage:
    """An outgoing message as read back from the thread."""

    id: str
    direction: str
    from_address: str
    to_addresses: tuple[str, ...]
    subject: str
    body_html: str
    created_at: datetime | None


CLOCK_SKEW = timedelta(minutes=5)


def _squash(html: str) -> str:
    return "".join(html.split())


def is_our_reply(draft: ReplyDraft, message: SeenMessage, *, intent_created_at: datetime) -> bool:
    """True when `message` is the reply of `draft` (same sender, recipient, subject and body, sent after
    the intent was recorded, allowing for clock skew). Bodies are compared without whitespace because a
    provider may re-indent HTML."""
    if message.direction.upper() != "OUT":
        return False
    if message.from_address.lower() != draft.from_address.lower():
        return False
    if draft.to_address.lower() not in {a.lower() for a in message.to_addresses}:
        return False
    if message.subject.strip() != draft.subject.strip():
        return False
    if message.created_at is not None and message.created_at < intent_created_at - CLOCK_SKEW:
        return False
    return _squash(message.body_html) == _squash(draft.body_html)
