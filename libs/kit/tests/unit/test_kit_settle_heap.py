"""settle_heap: the heap of a started process is frozen once, and the young garbage collections run at the
configured threshold from then on (`gc_young_threshold`). Each case runs in a fresh interpreter: a process
settles its heap once, and this test session may have settled its own already."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from servicekit.process.settings import ServiceSettings

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


def test_the_setting_defaults_to_20000_and_is_read_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().gc_young_threshold == 20_000
    monkeypatch.setenv("SERVICE_GC_YOUNG_THRESHOLD", "700")
    assert ServiceSettings().gc_young_threshold == 700
    monkeypatch.setenv("SERVICE_GC_YOUNG_THRESHOLD", "0")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        ServiceSettings()
