"""Scripted faults for the simulator: a queue of rules, matched per request in order."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class FaultRule:
    """What to do to matching requests.

    ``path``: exact API path (``/api/v1/lead/add``) or a prefix ending in ``*``; ``""`` = any.
    ``status``: answer with this code without applying the request (``retry_after`` → header).
    ``delay_s``: wait before handling. ``trickle_interval_s``: apply, then send the body one
    byte per interval. ``drop``: ``"after"`` applies then drops the connection mid-response,
    ``"before"`` drops without applying. ``times``: how many requests it hits (``None`` = all
    until removed). ``probability`` with ``seed``: hit that share of matching requests;
    ``max_consecutive`` caps a run of hits in a row (so a retry budget can be met). ``params``: query
    parameters the request must carry with these values (``{"page": "3"}`` hits only the third page).
    """

    path: str = ""
    method: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    retry_after: str | None = None
    delay_s: float = 0.0
    trickle_interval_s: float | None = None
    drop: str | None = None
    times: int | None = 1
    probability: float | None = None
    seed: int = 0
    max_consecutive: int | None = None
    hits: int = 0
    _run: int = field(default=0, repr=False)
    _rng: random.Random | None = field(default=None, repr=False)

    def matches(self, method: str, path: str, query: str = "") -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if self.params:
            given = dict(parse_qsl(query, keep_blank_values=True))
            if any(given.get(name) != str(value) for name, value in self.params.items()):
                return False
        if not self.path:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_run", None)
        data.pop("_rng", None)
        return data


class FaultPlan:
    """Thread-safe: the server thread matches while the test thread scripts."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        if rule.probability is not None:
            rule._rng = random.Random(rule.seed)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, method: str, path: str, query: str = "") -> FaultRule | None:
        """The first rule that fires for this request (consuming one of its ``times``)."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path, query):
                    continue
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if rule.probability is not None and rule._rng is not None:
                    fire = rule._rng.random() < rule.probability
                    if rule.max_consecutive is not None and rule._run >= rule.max_consecutive:
                        fire = False
                    rule._run = rule._run + 1 if fire else 0
                    if not fire:
                        continue
                rule.hits += 1
                return rule
            return None
