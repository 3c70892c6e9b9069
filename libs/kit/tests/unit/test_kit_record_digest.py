"""`record_digest` decides which records a replay may skip without decoding: it must be equal for the same
record however its parts are held in memory, and differ when anything in the record differs (hostile inputs
from Hypothesis). `header_event_id` only reads a hint: anything unreadable is None, never an error."""

from __future__ import annotations

import sys
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from servicekit.messaging.events import header_event_id, record_digest

names = st.text(min_size=1, max_size=12)
header = st.tuples(names, st.binary(max_size=40))
records = st.tuples(st.none() | st.binary(max_size=40), st.none() | st.binary(max_size=300),
                    st.lists(header, max_size=6))


@settings(max_examples=300, deadline=None)
@given(records)
def test_the_same_record_in_any_container_has_one_digest(record: tuple[bytes | None, bytes | None,
                                                                       list[tuple[str, bytes]]]) -> None:
    key, value, headers = record
    as_tuple = tuple(headers)
    interned_bytearrays = [(sys.intern(name), bytearray(raw)) for name, raw in headers]
    copied = [(name.encode().decode(), bytes(bytearray(raw))) for name, raw in headers]
    digest = record_digest(key, value, headers)
    assert digest == record_digest(key, value, as_tuple)
    assert digest == record_digest(key, value, interned_bytearrays)  # type: ignore[arg-type]
    assert digest == record_digest(key, value, copied)
    assert len(digest) == 64


@settings(max_examples=300, deadline=None)
@given(records, records)
def test_different_records_have_different_digests(a: tuple[bytes | None, bytes | None, list[tuple[str, bytes]]],
                                                  b: tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
                                                  ) -> None:
    if a == b:
        return
    assert record_digest(*a) != record_digest(*b)


def test_a_missing_key_or_value_differs_from_an_empty_one() -> None:
    assert record_digest(None, b"v", []) != record_digest(b"", b"v", [])
    assert record_digest(b"k", None, []) != record_digest(b"k", b"", [])
    assert record_digest(b"k", b"v", []) != record_digest(b"k", b"v", [("", b"")])


def test_the_header_event_id_is_read_when_readable() -> None:
    event_id = uuid.uuid4()
    assert header_event_id([("x", b"1"), ("event_id", str(event_id).encode())]) == event_id
    assert header_event_id([("ce_id", str(event_id).upper().encode())]) == event_id
    assert header_event_id([("event_id", b"not-a-uuid")]) is None
    assert header_event_id([("event_id", b"\xff\xfe")]) is None
    assert header_event_id([]) is None and header_event_id(None) is None
