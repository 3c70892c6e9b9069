"""Structured JSON logs with the event fields of the message being handled (never headers or secrets)."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from servicekit.process.tracing import current_trace_id

_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("servicekit_log_context", default=None)
CONTEXT_FIELDS = ("event_id", "event_type", "lead_id", "correlation_id")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Adds fields (e.g. event_id, lead_id) to every log record emitted inside the block."""
    merged = {**(_CONTEXT.get() or {}), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(_CONTEXT.get() or {})
        trace_id = current_trace_id()
        if trace_id:
            payload["trace_id"] = trace_id
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update({k: v for k, v in extra.items() if k not in payload})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(service: str, level: str = "INFO", *, json_output: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_output:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's CLI gives its loggers handlers of their own (plain text) and stops them propagating; the
    # app factory runs after that, so here they are handed to the root handler: its lines are JSON too.
    for name in UVICORN_LOGGERS:
        server_log = logging.getLogger(name)
        server_log.handlers[:] = []
        server_log.propagate = True
    for noisy in ("aiokafka", "kafka", "httpx", "httpcore", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
