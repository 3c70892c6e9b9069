"""The corpus itself (no broker): the kinds the issue asks for, at ~1 %, in an order the checks can rely on."""

from __future__ import annotations

import collections
import random
import uuid

from poison_corpus import AUDIT_COMPLETED_PLAN, LEAD_UPSERTED_PLAN, REASONS, build_stream, poison_kinds


def test_the_corpus_is_what_the_issue_asks_for() -> None:
    """At least 12 kinds, each at least once, ~1 % of the valid records; every conflicting id and redelivery after
    its original, on the same key."""
    rng = random.Random(1)
    for plan in (AUDIT_COMPLETED_PLAN, LEAD_UPSERTED_PLAN):
        stream = build_stream(plan, 1000, rng)
        assert len(poison_kinds(plan)) >= 12 and set(poison_kinds(plan)) <= set(REASONS)
        assert {r.label for r in stream.poison} == set(poison_kinds(plan))
        big = build_stream(plan, 10_000, rng)
        assert len(big.poison) == 100
        assert collections.Counter(r.label for r in big.poison).most_common()[-1][1] >= 5
        order = {id(r): i for i, r in enumerate(stream.records)}
        for rec in stream.records:
            if rec.label in ("conflicting-id", "redelivery"):
                original = next(r for r in stream.valid if r.event_id == rec.event_id)
                assert order[id(original)] < order[id(rec)] and original.key == rec.key
        assert all(r.key is not None for r in stream.records) or not plan.compacted
        assert len({r.lead_id for r in stream.valid}) == len(stream.valid)
        assert all(isinstance(r.lead_id, uuid.UUID) for r in stream.records)
