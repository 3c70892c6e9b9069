"""The bare endpoint the read API is compared with: Starlette + an asyncpg pool doing the same reads as
GET /api/leads/{id} (the lead row, then its linked audit run) and returning the rows as JSON — no ORM, no
auth, no response model. Run: uvicorn --factory bare_read_app:app_factory (env BARE_DSN, BARE_SCHEMA)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def app_factory() -> Starlette:
    dsn = os.environ["BARE_DSN"]
    schema = os.environ["BARE_SCHEMA"]
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10,
                                                  server_settings={"search_path": schema})
        yield
        await state["pool"].close()

    async def lead(request: Request) -> Response:
        try:
            lead_id = uuid.UUID(request.path_params["lead_id"])
        except ValueError:
            return Response(status_code=404)
        async with state["pool"].acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM leads WHERE id = $1", lead_id)
            if row is None:
                return Response(status_code=404)
            run = await conn.fetchrow("SELECT * FROM audit_runs WHERE id = $1", row["audit_run_id"]) \
                if row["audit_run_id"] else None
        body = {"lead": dict(row), "audit": dict(run) if run else None}
        return Response(json.dumps(body, default=str), media_type="application/json")

    return Starlette(routes=[Route("/lead/{lead_id}", lead)], lifespan=lifespan)
