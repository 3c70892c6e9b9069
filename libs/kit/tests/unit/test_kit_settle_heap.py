"""settle_heap: the heap of a started process is frozen once, and the young garbage collections run at the
configured threshold from then on (`gc_young_threshold`); that setting and `outbox_keep_sent_s` as read. Each case runs in a fresh interpreter: a process
settles its heap once, and this test session may have settled its own already."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic_settings import SettingsConfigDict

from servicekit.process.settings import KEEP_SENT_MAX_S, ServiceSettings

PROBE = """
import gc, json, sys
from servicekit.process.runtime import settle_heap
before = gc.get_threshold()
settle_heap(*json.loads(sys.argv[1]))
first = gc.get_threshold()
settle_heap(5)  # a second runtime in the same process changes nothing
print(json.dumps({"before": before, "first": first, "again": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def settle_in_a_fresh_process(*args: int) -> dict[str, list[int] | int]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))], capture_output=True, text=True,
                         check=True, timeout=60)
    result: dict[str, list[int] | int] = json.loads(out.stdout)
    return result


def test_the_young_threshold_is_raised_once_the_heap_is_frozen() -> None:
    seen = settle_in_a_fresh_process(20_000)
    before, first = seen["before"], seen["first"]
    assert isinstance(before, list) and isinstance(first, list)
    assert before[0] == 700  # CPython's own
    assert first == [20_000, *before[1:]]  # only the young generation's threshold moves
    assert seen["again"] == first
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 1000  # the loaded modules left the generations


def test_without_a_threshold_the_interpreters_own_is_kept() -> None:
    seen = settle_in_a_fresh_process()
    assert seen["first"] == seen["before"]


class SvcSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SVC_", extra="ignore")


def test_the_young_threshold_is_read_per_service_or_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SvcSettings().gc_young_threshold == 20_000
    monkeypatch.setenv("GC_YOUNG_THRESHOLD", "5000")
    assert SvcSettings().gc_young_threshold == 5_000
    monkeypatch.setenv("SVC_GC_YOUNG_THRESHOLD", "700")
    assert SvcSettings().gc_young_threshold == 700
    for bad in ("0", "2000000"):
        monkeypatch.setenv("SVC_GC_YOUNG_THRESHOLD", bad)
        with pytest.raises(ValueError, match="gc_young_threshold"):
            SvcSettings()


def test_the_outbox_keeps_published_rows_for_a_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SvcSettings().outbox_keep_sent_s == 0
    monkeypatch.setenv("OUTBOX_KEEP_SENT_S", "3600")
    assert SvcSettings().outbox_keep_sent_s == 3600
    monkeypatch.setenv("SVC_OUTBOX_KEEP_SENT_S", "90.5")
    assert SvcSettings().outbox_keep_sent_s == 90.5
    # inf would only fail later, building the relay's timedelta; over a month only grows the table
    for bad in ("-1", "inf", "nan", str(KEEP_SENT_MAX_S + 1)):
        monkeypatch.setenv("SVC_OUTBOX_KEEP_SENT_S", bad)
        with pytest.raises(ValueError, match="outbox_keep_sent_s"):
            SvcSettings()
