"""Validating and normalising campaign ``sequences`` sent by an operator (PATCH or the control API)."""

from __future__ import annotations

from typing import Any

from plusvibe.simulator.sim_error import SimError

MAX_STEPS = 50
MAX_VARIATIONS = 26  # variation letters A..Z


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SimError(400, f"{where} must be a string")
    return value


def _wait(value: Any, n: int, default_wait: int) -> int:
    if value is None:
        return 0 if n == 1 else default_wait
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SimError(400, f"sequences[{n - 1}].wait_time must be a non-negative integer")
    return value


def normalise_sequences(raw: Any, *, default_wait: int = 1) -> list[dict[str, Any]]:
    """``[{step, wait_time, variations:[{variation, subject, body}]}]``; steps and letters by position.

    Raises ``SimError(400, ...)`` naming the first bad field.
    """
    if not isinstance(raw, list):
        raise SimError(400, "sequences must be an array")
    if len(raw) > MAX_STEPS:
        raise SimError(400, f"at most {MAX_STEPS} steps")
    steps: list[dict[str, Any]] = []
    for n, step in enumerate(raw, start=1):
        where = f"sequences[{n - 1}]"
        if not isinstance(step, dict):
            raise SimError(400, f"{where} must be an object")
        variations = step.get("variations")
        if not isinstance(variations, list) or not variations:
            raise SimError(400, f"{where}.variations must be a non-empty array")
        if len(variations) > MAX_VARIATIONS:
            raise SimError(400, f"{where}.variations: at most {MAX_VARIATIONS}")
        normalised = []
        for i, variation in enumerate(variations):
            vwhere = f"{where}.variations[{i}]"
            if not isinstance(variation, dict):
                raise SimError(400, f"{vwhere} must be an object")
            normalised.append(
                {
                    "variation": chr(ord("A") + i),
                    "subject": _text(variation.get("subject"), f"{vwhere}.subject"),
                    "body": _text(variation.get("body"), f"{vwhere}.body"),
                }
            )
        steps.append({"step": n, "wait_time": _wait(step.get("wait_time"), n, default_wait), "variations": normalised})
    return steps
