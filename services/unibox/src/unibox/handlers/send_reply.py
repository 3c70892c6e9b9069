"""POST reply: exactly one PlusVibe reply per client idempotency key.

1. The intent row (status `pending`) is committed BEFORE PlusVibe is called.
2. Success → `sent` + ReplySent (outbox) in one transaction.
3. An ambiguous failure (connection lost after sending, 5xx, deadline in flight) is reconciled by reading the
   contact's thread: found → `sent` (reconciled); not found → `unconfirmed`, and the request fails with
   `reply_outcome_unknown`. It is NEVER re-sent automatically; a retry with the same key only reconciles again.
   (To send deliberately again the operator uses a new key.)
4. A failure where nothing reached PlusVibe (connect error, 429, open breaker) → `retryable`: a retry with the
   same key sends. A permanent rejection → `failed`, and the same key returns the same error.
A retried request with the same key returns the stored result; a different request with the same key is refused.
Keys, intents, the lead and the PlusVibe port are the request's platform workspace's: the same key in another
workspace is another reply, sent through that workspace's PlusVibe account.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.unibox import ReplySent
from plusvibe.errors import AmbiguousSendError, AuthenticationError, NotFoundError, PlusVibeError, TransientError
from plusvibe.port import PlusVibePort
from unibox.adapters.plusvibe import NotConnectedError
from unibox.adapters.uow import UniboxUnitOfWork
from unibox.domain.replies import ReplyDraft, SeenMessage, is_our_reply
from unibox.domain.sanitise import sanitise_html, sanitise_subject
from unibox.domain.webhooks import parse_time

log = logging.getLogger(__name__)
UowFactory = Callable[[], UniboxUnitOfWork]
# A `pending` intent older than this is not in flight any more (the process died mid-call).
IN_FLIGHT_WINDOW = timedelta(seconds=60)
RECONCILE_MAX_PAGES = 5


class ReplyError(Exception):
    def __init__(self, status_code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    reply_id: uuid.UUID
    plusvibe_email_id: str | None
    reconciled: bool
    sent_at: datetime
    replayed: bool


def draft_of(reply_to_id: str, from_address: str, to_address: str, subject: str, body_html: str) -> ReplyDraft:
    return ReplyDraft(reply_to_id=reply_to_id.strip(), from_address=from_address.strip(),
                      to_address=to_address.strip(), subject=sanitise_subject(subject),
                      body_html=sanitise_html(body_html))


async def send_reply(draft: ReplyDraft, idempotency_key: str, *, uows: UowFactory, pv: PlusVibePort,
                     workspace: str, on_sent: Callable[[str], None] | None = None) -> ReplyOutcome:
    """`pv`: `workspace`'s port."""
    if not draft.body_html.strip():
        raise ReplyError(422, "body_empty", "The reply body is empty after sanitising.")
    if not draft.subject:
        raise ReplyError(422, "subject_empty", "The reply needs a subject.")
    fingerprint = draft.fingerprint()
    now = datetime.now(UTC)
    async with uows() as uow:
        intent = await uow.replies.get(workspace, idempotency_key)
        if intent is None:
            lead = await uow.leads.find(workspace, draft.to_address)
            values: dict[str, Any] = {
                "id": uuid.uuid4(), "workspace": workspace, "idempotency_key": idempotency_key,
                "fingerprint": fingerprint,
                "status": "pending", "reply_to_id": draft.reply_to_id, "from_address": draft.from_address,
                "to_address": draft.to_address, "subject": draft.subject, "body_html": draft.body_html,
                "lead_id": lead.lead_id if lead else None, "reconciled": False, "attempts": 1,
                "created_at": now, "updated_at": now,
            }
            if await uow.replies.create(values):
                await uow.commit()  # the intent exists before PlusVibe hears of the reply
                return await _send(values, draft, uows=uows, pv=pv, on_sent=on_sent)
            intent = await uow.replies.get(workspace, idempotency_key)
            if intent is None:  # pragma: no cover - the conflicting row vanished
                raise ReplyError(409, "reply_in_progress", "A request with this idempotency key is in progress.")
    if intent["fingerprint"] != fingerprint:
        raise ReplyError(409, "idempotency_key_reused",
                         "This idempotency key was used for a different reply; use a new key.")
    return await _resume(intent, draft, uows=uows, pv=pv, on_sent=on_sent)


async def _resume(intent: dict[str, Any], draft: ReplyDraft, *, uows: UowFactory, pv: PlusVibePort,
                  on_sent: Callable[[str], None] | None) -> ReplyOutcome:
    status = intent["status"]
    if status == "sent":
        return ReplyOutcome(intent["id"], intent["plusvibe_email_id"], bool(intent["reconciled"]),
                            intent["sent_at"], replayed=True)
    if status == "failed":
        raise ReplyError(422 if intent["error_reason"] != "reply_to_not_found" else 404,
                         intent["error_reason"] or "plusvibe_rejected", intent["error_message"] or "rejected")
    now = datetime.now(UTC)
    if status == "retryable":
        async with uows() as uow:
            claimed = await uow.replies.transition(intent["id"], ["retryable"], status="pending", updated_at=now,
                                                   attempts=intent["attempts"] + 1)
            await uow.commit()
        if claimed:
            return await _send(intent, draft, uows=uows, pv=pv, on_sent=on_sent)
        status = "pending"
    # pending (in flight elsewhere, or its process died) or unconfirmed: look, never send.
    found = await _reconcile(intent, draft, uows=uows, pv=pv)
    if found is not None:
        return await _mark_sent(intent, found, reconciled=True, from_statuses=["pending", "unconfirmed"],
                                uows=uows, on_sent=on_sent, replayed=True)
    if status == "pending" and now - intent["updated_at"] < IN_FLIGHT_WINDOW:
        raise ReplyError(409, "reply_in_progress", "This reply is being sent; retry in a moment.")
    async with uows() as uow:
        await uow.replies.transition(intent["id"], ["pending", "unconfirmed"], status="unconfirmed", updated_at=now)
        await uow.commit()
    raise _unknown()


async def _send(intent: dict[str, Any], draft: ReplyDraft, *, uows: UowFactory, pv: PlusVibePort,
                on_sent: Callable[[str], None] | None) -> ReplyOutcome:
    try:
        result = await pv.reply(draft.reply_to_id, draft.from_address, draft.to_address, draft.subject,
                                draft.body_html)
    except AmbiguousSendError:
        log.warning("reply outcome unknown; reconciling by reading the thread",
                    extra={"fields": {"reply_id": str(intent["id"])}})
        found = await _reconcile(intent, draft, uows=uows, pv=pv)
        if found is not None:
            return await _mark_sent(intent, found, reconciled=True, from_statuses=["pending"], uows=uows,
                                    on_sent=on_sent, replayed=False)
        await _set_status(uows, intent, "unconfirmed", "reply_outcome_unknown", "connection lost after sending")
        raise _unknown() from None
    except NotFoundError as exc:
        await _set_status(uows, intent, "failed", "reply_to_not_found", _safe(exc))
        raise ReplyError(404, "reply_to_not_found", "PlusVibe does not know the message to reply to.") from None
    except NotConnectedError as exc:  # no request was made: retryable once an operator connects PlusVibe
        await _set_status(uows, intent, "retryable", exc.reason, _safe(exc))
        raise ReplyError(503, exc.reason, f"{exc.message} Nothing was sent.") from None
    except AuthenticationError as exc:
        await _set_status(uows, intent, "retryable", "plusvibe_auth_failed", _safe(exc))
        raise ReplyError(502, "plusvibe_auth_failed", "PlusVibe refused the credentials; nothing was sent.") from None
    except TransientError as exc:  # not ambiguous: nothing reached PlusVibe
        await _set_status(uows, intent, "retryable", "plusvibe_unavailable", _safe(exc))
        raise ReplyError(503, "plusvibe_unavailable",
                         "PlusVibe is unavailable; nothing was sent. Retry with the same idempotency key.") from None
    except PlusVibeError as exc:
        await _set_status(uows, intent, "failed", "plusvibe_rejected", _safe(exc))
        raise ReplyError(422, "plusvibe_rejected", f"PlusVibe rejected the reply: {_safe(exc)}") from None
    return await _mark_sent(intent, result.id or None, reconciled=False, from_statuses=["pending"], uows=uows,
                            on_sent=on_sent, replayed=False)


def _safe(exc: PlusVibeError) -> str:
    return str(exc)[:500]  # the client never puts the API key in its messages


def _unknown() -> ReplyError:
    return ReplyError(502, "reply_outcome_unknown",
                      "PlusVibe may or may not have sent this reply and it is not in the thread yet; it will not be "
                      "re-sent automatically. Check the thread, then retry with the same key (reconciles only) or "
                      "send again with a new key.")


async def _set_status(uows: UowFactory, intent: dict[str, Any], status: str, reason: str, message: str) -> None:
    async with uows() as uow:
        await uow.replies.transition(intent["id"], ["pending"], status=status, error_reason=reason,
                                     error_message=message, updated_at=datetime.now(UTC))
        await uow.commit()


async def _mark_sent(intent: dict[str, Any], email_id: str | None, *, reconciled: bool, from_statuses: list[str],
                     uows: UowFactory, on_sent: Callable[[str], None] | None, replayed: bool) -> ReplyOutcome:
    now = datetime.now(UTC)
    async with uows() as uow:
        changed = await uow.replies.transition(intent["id"], from_statuses, status="sent", plusvibe_email_id=email_id,
                                               reconciled=reconciled, sent_at=now, updated_at=now,
                                               error_reason=None, error_message=None)
        if not changed:  # someone else recorded it first: report what they stored
            stored = await uow.replies.get(intent["workspace"], intent["idempotency_key"])
            if stored is not None and stored["status"] == "sent":
                return ReplyOutcome(stored["id"], stored["plusvibe_email_id"], bool(stored["reconciled"]),
                                    stored["sent_at"], replayed=True)
            raise ReplyError(409, "reply_in_progress", "This reply is being sent; retry in a moment.")
        uow.publish(ReplySent(reply_id=intent["id"], lead_id=intent["lead_id"], reply_to_id=intent["reply_to_id"],
                              from_address=intent["from_address"], to_address=intent["to_address"],
                              subject=intent["subject"], plusvibe_email_id=email_id, sent_at=now),
                    lead_id=intent["lead_id"], workspace_id=intent["workspace"])
        await uow.commit()
    if on_sent is not None:
        on_sent(intent["to_address"])
    return ReplyOutcome(intent["id"], email_id, reconciled, now, replayed=replayed)


async def _reconcile(intent: dict[str, Any], draft: ReplyDraft, *, uows: UowFactory,
                     pv: PlusVibePort) -> str | None:
    """The PlusVibe id of our reply if it is in the contact's thread, else None (also when unreadable)."""
    async with uows() as uow:
        taken = await uow.replies.sent_email_ids(intent["workspace"], draft.to_address, exclude=intent["id"])
    thread_id: str | None = None
    outgoing: list[tuple[str, SeenMessage]] = []
    try:
        async for email in pv.iter_unibox_emails(lead=draft.to_address, max_pages=RECONCILE_MAX_PAGES):
            if email.id == draft.reply_to_id:
                thread_id = email.thread_id
            if email.direction.upper() == "OUT":
                outgoing.append((email.thread_id, SeenMessage(
                    id=email.id, direction=email.direction, from_address=email.eaccount or email.from_address_email,
                    to_addresses=tuple(email.to_address_email_list), subject=email.subject,
                    body_html=email.body.html, created_at=parse_time(email.timestamp_created))))
    except PlusVibeError:
        log.warning("could not read the thread to reconcile a reply", exc_info=True)
        return None
    for message_thread, message in outgoing:
        if thread_id and message_thread and message_thread != thread_id:
            continue  # a reply lands in the thread of the message it answers
        if message.id in taken:
            continue  # already the confirmed result of another reply
        if is_our_reply(draft, message, intent_created_at=intent["created_at"]):
            return message.id
    return None
