"""`record_digest` decides which records a replay may skip without decoding: it must be equal for the same
record however its parts are held in memory, and differ when anything in the record differs (hostile inputs
from Hypothesis). `header_event_id_text` only reads a hint: anything unreadable is None, never an error, and what it returns is
the id as PostgreSQL writes it."""

from __future__ import annotations

import sys
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from servicekit.messaging.events import header_event_id_text, record_digest

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
    assert header_event_id_text([("x", b"1"), ("event_id", str(event_id).encode())]) == str(event_id)
    assert header_event_id_text([("ce_id", str(event_id).upper().encode())]) == str(event_id)
    assert header_event_id_text([("ce_id", event_id.hex.encode())]) == str(event_id)
    assert header_event_id_text([("event_id", b"not-a-uuid")]) is None
    assert header_event_id_text([("event_id", b"\xff\xfe")]) is None
    assert header_event_id_text([]) is None and header_event_id_text(None) is None


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["event_id", "ce_id", "x"]),
                          st.binary(max_size=40) | st.uuids().map(lambda u: str(u).encode())
                          | st.text(alphabet="0123456789abcdefABCDEF-{}", max_size=40).map(str.encode)), max_size=4))
def test_a_header_event_id_is_none_or_the_canonical_text_of_a_uuid(headers: list[tuple[str, bytes]]) -> None:
    found = header_event_id_text(headers)
    if found is not None:
        assert found == str(uuid.UUID(found))  # what PostgreSQL's uuid::text gives, never a text it refuses
