"""Work an API request starts and that outlives it, in this process: held until it ends, cancelled when the process
stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class BackgroundJobs:
    """The background jobs this process runs (a first sync, a CSV import): each task is held here until it ends (the
    event loop keeps only weak references to tasks), and cancelled when the process stops (a sync then resumes on the
    next POST; an import is marked failed and runs again on the next POST)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
