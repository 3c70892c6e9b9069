"""GET threads: the contact's Unibox messages (walking page_trail), filtered by address, sanitised,
grouped and cached briefly."""

from __future__ import annotations

from plusvibe.models import UniboxEmail
from plusvibe.port import PlusVibePort
from unibox.adapters.thread_cache import TtlCache
from unibox.domain.sanitise import html_to_text, sanitise_html
from unibox.domain.threads import Message, Thread, build_threads
from unibox.domain.webhooks import parse_time


def to_message(email: UniboxEmail) -> Message:
    html = sanitise_html(email.body.html)
    return Message(
        id=email.id,
        thread_id=email.thread_id,
        direction="in" if email.direction.upper() == "IN" else "out",
        from_address=email.from_address_email,
        to_addresses=tuple(email.to_address_email_list),
        cc_addresses=(),  # plusvibe.models.UniboxEmail does not carry cc_address_email_list yet
        subject=email.subject,
        html=html,
        text=email.body.text.strip() or html_to_text(html),
        is_read=not bool(email.is_unread),
        created_at=parse_time(email.timestamp_created),
        mailbox=email.eaccount,
        campaign_id=email.campaign_id or None,
        label=email.label,
    )


async def list_threads(pv: PlusVibePort, cache: TtlCache[list[Thread]], email: str, *, refresh: bool,
                       max_pages: int) -> list[Thread]:
    """`pv` and `cache`: the request's workspace's (its own PlusVibe account, its own cached listings)."""
    key = email.strip().lower()
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    messages = [to_message(e) async for e in pv.iter_unibox_emails(lead=key, max_pages=max_pages)]
    threads = build_threads(messages, key)
    cache.put(key, threads)
    return threads
