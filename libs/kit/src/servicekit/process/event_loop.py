"""The event loop of a worker process (consumers, relay): uvloop, unless the service's `event_loop` setting is
`asyncio` (`<SVC>_EVENT_LOOP=asyncio`).

uvloop runs asyncio's API on libuv, with the transports, the socket reads and writes and the scheduling in C; it is
kept by asyncpg's authors and used with aiokafka and asyncpg alike. Everything a worker does is many small round
trips to PostgreSQL and the broker, so their cost is the loop's cost: in one measurement here a SQLAlchemy statement
took 143-150 µs of CPU under uvloop against 159-165 µs under asyncio, and a raw asyncpg fetch 43-46 against 59 µs
(docs/PERFORMANCE.md has the pipeline's before/after). The setting is the way back if a platform or a library ever
misbehaves under uvloop; where uvloop cannot be installed (Windows), asyncio runs.

The APIs run under uvicorn, which picks uvloop itself when it is installed (`uvicorn --loop asyncio` opts out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is installed wherever the services run (not on Windows)
    uvloop = None  # type: ignore[assignment]

T = TypeVar("T")
EventLoop = Literal["uvloop", "asyncio"]


def run(main: Coroutine[Any, Any, T], *, loop: EventLoop = "uvloop") -> T:
    """Runs `main` to completion on a new event loop of the kind `loop` names (as `asyncio.run` does)."""
    if loop == "uvloop" and uvloop is not None:
        return uvloop.run(main)
    return asyncio.run(main)


def running_loop_kind() -> EventLoop:
    """Which kind of loop runs the calling coroutine (the tests check it with this)."""
    return "uvloop" if uvloop is not None and isinstance(asyncio.get_running_loop(), uvloop.Loop) else "asyncio"
