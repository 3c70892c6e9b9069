"""A contact's Unibox messages grouped into threads, newest first (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    thread_id: str
    direction: str  # "in" (from the contact) | "out" (from our mailbox)
    from_address: str
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]
    subject: str
    html: str  # sanitised
    text: str
    is_read: bool
    created_at: datetime | None
    mailbox: str
    campaign_id: str | None
    label: str | None


@dataclass(frozen=True, slots=True)
class Thread:
    thread_id: str
    subject: str
    latest_at: datetime | None
    unread: bool
    mailbox: str
    campaign_id: str | None
    reply_to_id: str  # the newest message from the contact (else the newest message): what a reply answers
    messages: tuple[Message, ...]  # newest first


def involves(message: Message, address: str) -> bool:
    wanted = address.strip().lower()
    return wanted in {message.from_address.lower(), *(a.lower() for a in message.to_addresses),
                      *(a.lower() for a in message.cc_addresses)}


def _newest_first(messages: Iterable[Message]) -> list[Message]:
    # Stable: messages with equal (or missing) timestamps keep the feed's own newest-first order.
    return sorted(messages, key=lambda m: m.created_at or _EPOCH, reverse=True)


def build_threads(messages: Sequence[Message], address: str) -> list[Thread]:
    """Only messages to or from `address` (the feed's own filter is unreliable), one entry per message id."""
    unique: dict[str, Message] = {}
    for message in messages:
        if involves(message, address) and message.id not in unique:
            unique[message.id] = message
    grouped: dict[str, list[Message]] = {}
    for message in _newest_first(unique.values()):
        grouped.setdefault(message.thread_id or message.id, []).append(message)
    threads = []
    for thread_id, items in grouped.items():
        newest = items[0]
        inbound = next((m for m in items if m.direction == "in"), newest)
        threads.append(Thread(
            thread_id=thread_id,
            subject=next((m.subject for m in reversed(items) if m.subject), ""),
            latest_at=newest.created_at,
            unread=any(not m.is_read for m in items),
            mailbox=newest.mailbox,
            campaign_id=newest.campaign_id,
            reply_to_id=inbound.id,
            messages=tuple(items),
        ))
    return sorted(threads, key=lambda t: t.latest_at or _EPOCH, reverse=True)
