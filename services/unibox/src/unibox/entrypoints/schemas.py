"""HTTP wire schemas of the unibox API (camelCase JSON), separate from contracts and domain."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from servicekit.messaging.wire import NulFree
from unibox.domain.threads import Message, Thread


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class WireIn(Wire, NulFree):
    """A request body (NUL refused, see servicekit.messaging.wire)."""


class MessageOut(Wire):
    id: str
    thread_id: str
    direction: str = Field(description='"in" from the contact, "out" from our mailbox')
    from_: str = Field(alias="from")
    to: list[str]
    subject: str
    html: str = Field(description="allowlist-sanitised HTML")
    text: str
    is_read: bool
    created_at: datetime | None
    mailbox: str

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(id=m.id, thread_id=m.thread_id, direction=m.direction, from_=m.from_address, to=list(m.to_addresses),
                   subject=m.subject, html=m.html, text=m.text, is_read=m.is_read, created_at=m.created_at,
                   mailbox=m.mailbox)


class MarkReadBody(WireIn):
    email: str | None = None


class ThreadOut(Wire):
    thread_id: str
    subject: str
    latest_at: datetime | None
    unread: bool
    mailbox: str = Field(description="our mailbox in this thread (default 'Reply from')")
    campaign_id: str | None
    reply_to_id: str = Field(description="the message a reply in this thread answers")
    mark_read_body: MarkReadBody = Field(description="body for POST /api/unibox/threads/{threadId}/read")
    messages: list[MessageOut] = Field(description="newest first")

    @classmethod
    def of(cls, t: Thread, email: str) -> ThreadOut:
        return cls(thread_id=t.thread_id, subject=t.subject, latest_at=t.latest_at, unread=t.unread,
                   mailbox=t.mailbox, campaign_id=t.campaign_id, reply_to_id=t.reply_to_id,
                   mark_read_body=MarkReadBody(email=email), messages=[MessageOut.of(m) for m in t.messages])


class MailboxOut(Wire):
    id: str
    email: str
    name: str
    status: str
    provider: str


class ReplyIn(WireIn):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    reply_to_id: str = Field(min_length=1, max_length=100)
    from_: str = Field(alias="from", min_length=3, max_length=320)
    to: str = Field(min_length=3, max_length=320)
    subject: str = Field(max_length=2000)
    body_html: str = Field(max_length=500_000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class ReplyOut(Wire):
    reply_id: UUID
    status: str
    plusvibe_email_id: str | None
    reconciled: bool
    sent_at: datetime


class MarkReadOut(Wire):
    thread_id: str
    marked_at: datetime


class WebhookAck(Wire):
    status: str
    webhook_id: UUID
    duplicate: bool
