"""Grouping a contact's messages into threads: client-side address filter, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from unibox.domain.threads import Message, build_threads

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def msg(mid: str, thread: str, direction: str, minutes: int, *, contact: str = "ana@example.test",
        read: bool = True) -> Message:
    ours = "alex@sender.test"
    return Message(
        id=mid, thread_id=thread, direction=direction,
        from_address=contact if direction == "in" else ours,
        to_addresses=(ours,) if direction == "in" else (contact,), cc_addresses=(),
        subject=f"subject {thread}", html="<p>x</p>", text="x", is_read=read,
        created_at=T0 + timedelta(minutes=minutes), mailbox=ours, campaign_id="c1", label=None,
    )


def test_messages_of_other_contacts_are_filtered_out() -> None:
    feed = [msg("1", "t1", "out", 1), msg("2", "t9", "out", 2, contact="bob@example.test"),
            msg("3", "t1", "in", 3)]
    threads = build_threads(feed, "ANA@example.test")
    assert [t.thread_id for t in threads] == ["t1"]
    assert [m.id for m in threads[0].messages] == ["3", "1"]


def test_threads_and_messages_are_newest_first_and_reply_targets_the_newest_inbound() -> None:
    feed = [msg("1", "old", "out", 1), msg("2", "new", "out", 5), msg("3", "old", "in", 2, read=False),
            msg("4", "new", "in", 6), msg("5", "new", "out", 7)]
    threads = build_threads(feed, "ana@example.test")
    assert [t.thread_id for t in threads] == ["new", "old"]
    assert [m.id for m in threads[0].messages] == ["5", "4", "2"]
    assert threads[0].reply_to_id == "4"
    assert threads[0].unread is False
    assert threads[1].unread is True


def test_no_messages_means_an_empty_list() -> None:
    assert build_threads([], "ana@example.test") == []


def test_a_message_seen_twice_across_pages_is_listed_once() -> None:
    feed = [msg("1", "t1", "out", 1), msg("1", "t1", "out", 1)]
    assert len(build_threads(feed, "ana@example.test")[0].messages) == 1
