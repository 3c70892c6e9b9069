"""The dashboard's web app: the page shell for /leads, /leads/new, /leads/{id}, /leads/{id}/edit, /audits/{id} and
/integrations, the static ES modules and stylesheet, and /health/live. Every response carries the strict security
headers."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from dashboard.security import SECURITY_HEADERS
from servicekit.process.logging import configure_logging
from servicekit.process.tracing import TraceMiddleware

STATIC_DIR = Path(__file__).parent / "static"
SHELL = STATIC_DIR / "index.html"
# Only ids that look like ids reach the shell; the browser asks the API and shows "Failed to load ..." itself.
_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _shell() -> FileResponse:
    # The shell must always be revalidated so a new deploy's module URLs are picked up.
    return FileResponse(SHELL, media_type="text/html; charset=utf-8", headers={"cache-control": "no-cache"})


def _not_found() -> JSONResponse:
    return JSONResponse({"reason": "not_found", "message": "No such page."}, status_code=404)


def create_app() -> FastAPI:
    """The dashboard app; it has no settings: the API key is entered by the operator in the browser."""
    app = FastAPI(title="Outreach dashboard", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/leads", status_code=307)

    @app.get("/leads", include_in_schema=False)
    async def leads_page() -> FileResponse:
        return _shell()

    @app.get("/integrations", include_in_schema=False)
    async def integrations_page() -> FileResponse:
        return _shell()

    @app.get("/leads/{lead_id}", include_in_schema=False, response_model=None)
    async def lead_page(lead_id: str) -> Response:
        return _shell() if _ID.match(lead_id) else _not_found()

    @app.get("/leads/{lead_id}/edit", include_in_schema=False, response_model=None)
    async def lead_edit_page(lead_id: str) -> Response:
        return _shell() if _ID.match(lead_id) else _not_found()

    @app.get("/audits/{run_id}", include_in_schema=False, response_model=None)
    async def audit_page(run_id: str) -> Response:
        return _shell() if _ID.match(run_id) else _not_found()

    @app.get("/help/lead-detail", include_in_schema=False)
    async def lead_detail_help() -> FileResponse:
        """The contextual help of /leads/<id> (linked from its header)."""
        return FileResponse(STATIC_DIR / "help" / "lead-detail.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(TraceMiddleware)  # continues the caller's trace: the access log line carries its id
    return app


def app_factory() -> FastAPI:
    """`uvicorn --factory dashboard.app:app_factory`"""
    configure_logging("dashboard", os.environ.get("LOG_LEVEL", "INFO"))
    return create_app()
