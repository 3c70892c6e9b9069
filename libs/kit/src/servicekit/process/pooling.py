"""What an entrypoint declares about its process's database use: the pool of its process type, and the check,
at start, that the database keeps sessions (docs/KUBERNETES-RUNBOOK.md "Connection budget").

    size_pool(runtime, "consumers")   # before anything connects
    run(checked(runtime, serve_worker(runtime, consumers=True, relay=False)), loop=...)

which a worker entrypoint does in one call, `servicekit.process.worker_main.run_worker(runtime, "consumers")`.

APIs: `size_pool(runtime, "api")` before `create_app(...)`, and `checked_app(app, runtime)` around the app.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from fastapi import FastAPI

from servicekit.process.db import Process, check_session_pooling, is_postgres, pool_size_for, service_engine
from servicekit.process.runtime import ServiceRuntime

log = logging.getLogger(__name__)

T = TypeVar("T")


def size_pool(runtime: ServiceRuntime[Any], process: Process, *, loop_connections: int | None = None) -> int:
    """Gives the runtime's engine the pool of `process` (servicekit.process.db.pool_size_for: a consumers process counts
    the consumer subscribers the bootstrap registered and the connections of the service's own loops, by default
    those their registrations state: `ServiceRuntime.loop_connections`), unless `db_pool_size` is set
    (`<SVC>_DB_POOL_SIZE` / `DB_POOL_SIZE`). Returns the size.

    The bootstrap builds the engine before it registers the consumers, so the engine is rebuilt here: it has
    not connected yet (SQLAlchemy connects on first use) and nothing holds it yet — `create_service_app`,
    the relay and the worker health read `runtime.engine` when they start, sessions go through
    `runtime.sessions`, which is re-bound. Call it before any of them."""
    settings = runtime.settings
    if loop_connections is None:
        loop_connections = runtime.loop_connections()
    size = settings.db_pool_size or pool_size_for(process, subscribers=len(runtime.consumers),
                                                  loop_connections=loop_connections)
    url = settings.resolved_database_url()
    if not is_postgres(url):
        return size
    pool: Any = runtime.engine.sync_engine.pool
    if pool.checkedin() or pool.checkedout():
        raise RuntimeError("size_pool() must run before the runtime's engine is first used")
    if pool.size() != size:
        runtime.engine = service_engine(settings, pool_size=size)
        runtime.sessions.configure(bind=runtime.engine)
    log.info("database pool", extra={"fields": {"process": process, "pool_size": size,
                                                "subscribers": len(runtime.consumers),
                                                "loop_connections": loop_connections}})
    return size


async def checked(runtime: ServiceRuntime[Any], main: Coroutine[Any, Any, T]) -> T:
    """Awaits `main` (a worker's `serve_worker(...)`) once the database passed the session check
    (servicekit.process.db.check_session_pooling); refused, `main` never starts."""
    try:
        await check_session_pooling(runtime.engine)
    except BaseException:
        main.close()
        raise
    return await main


def checked_app(app: FastAPI, runtime: ServiceRuntime[Any]) -> FastAPI:
    """The API's start-up runs the session check first (before migrations and before it serves): a transaction
    pooler fails the start with the check's message instead of failing every request."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        await check_session_pooling(runtime.engine)
        async with inner(application) as state:
            yield state

    app.router.lifespan_context = lifespan
    return app
