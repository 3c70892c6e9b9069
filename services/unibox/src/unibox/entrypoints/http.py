"""The unibox HTTP API: threads, mailboxes, replies, mark read (API key with unibox:read / unibox:write) and the
PlusVibe webhook receivers (a secret instead of an API key: the workspace's own, or the deployment's shared one).

Every API route works in the request's platform workspace (`X-Workspace`, `servicekit.web.auth.workspace_of`): its
PlusVibe account, its leads, its reply intents, its cached listings. Something of another workspace answers exactly
as something that does not exist."""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request, Response

from contracts.integrations import DEFAULT_WORKSPACE, WORKSPACE_NAME_PATTERN
from plusvibe.errors import AuthenticationError, NotFoundError, PlusVibeError, TransientError
from servicekit.messaging.wire import is_storable_text
from servicekit.process.pooling import checked_app, size_pool
from servicekit.web.auth import require_scope, workspace_of
from servicekit.web.http import ApiError, create_service_app
from unibox.adapters.plusvibe import NotConnectedError
from unibox.adapters.webhook_secrets import secret_matches
from unibox.bootstrap import UniboxService, bootstrap
from unibox.domain.sanitise import is_email_address
from unibox.entrypoints.schemas import (
    MailboxOut,
    MarkReadBody,
    MarkReadOut,
    ReplyIn,
    ReplyOut,
    ThreadOut,
    WebhookAck,
)
from unibox.handlers import mark_read, receive_webhook, send_reply
from unibox.handlers.list_threads import list_threads
from unibox.settings import UniboxSettings

log = logging.getLogger(__name__)
_THREAD_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
_WORKSPACE = re.compile(WORKSPACE_NAME_PATTERN)  # fullmatch: `$` would let a trailing newline through


def _plusvibe_error(exc: PlusVibeError) -> ApiError:
    if isinstance(exc, NotFoundError):
        return ApiError(404, "not_found_in_plusvibe", "PlusVibe does not know this item.")
    if isinstance(exc, NotConnectedError):  # nothing was sent: no integration connected (or its key unreadable)
        return ApiError(503, exc.reason, exc.message)
    if isinstance(exc, AuthenticationError):
        return ApiError(502, "plusvibe_auth_failed", "PlusVibe refused the configured credentials.")
    if isinstance(exc, TransientError):
        return ApiError(503, "plusvibe_unavailable", "PlusVibe is unavailable; try again shortly.")
    return ApiError(502, "plusvibe_error", "PlusVibe rejected the request.")


def _address(value: str, field: str) -> str:
    cleaned = value.strip()
    if "\x00" in cleaned or not is_email_address(cleaned):
        raise ApiError(422, "invalid_email", f"{field} must be a single email address.")
    return cleaned


def unibox_router(service: UniboxService) -> APIRouter:
    served = service.settings.served_workspaces()
    read = Depends(require_scope(service.api_keys, "unibox:read", served))
    write = Depends(require_scope(service.api_keys, "unibox:write", served))
    router = APIRouter(prefix="/api/unibox", tags=["unibox"])
    s = service.settings

    @router.get("/threads", response_model=list[ThreadOut], dependencies=[read])
    async def threads(request: Request, email: Annotated[str, Query(max_length=320)],
                      refresh: Annotated[bool, Query()] = False) -> list[ThreadOut]:
        """The contact's threads in the workspace's PlusVibe account, newest first (each thread's messages newest
        first). Empty list when none."""
        address = _address(email, "email").lower()
        workspace = workspace_of(request)
        try:
            found = await list_threads(service.plusvibe(workspace), service.threads_cache.of(workspace), address,
                                       refresh=refresh, max_pages=s.threads_max_pages)
        except PlusVibeError as exc:
            raise _plusvibe_error(exc) from None
        return [ThreadOut.of(t, address) for t in found]

    @router.get("/mailboxes", response_model=list[MailboxOut], dependencies=[read])
    async def mailboxes(request: Request) -> list[MailboxOut]:
        """The workspace's connected mailboxes (the "Reply from" choices)."""
        try:
            found = await service.plusvibe(workspace_of(request)).list_mailboxes()
        except PlusVibeError as exc:
            raise _plusvibe_error(exc) from None
        out = []
        for m in found:
            raw_name = m.payload.get("name")
            name: dict[str, Any] = raw_name if isinstance(raw_name, dict) else {}
            full = " ".join(str(p) for p in (name.get("first_name"), name.get("last_name")) if p)
            out.append(MailboxOut(id=m.id, email=m.email, name=full, status=m.status, provider=m.provider))
        return out

    @router.post("/replies", response_model=ReplyOut, status_code=201, dependencies=[write])
    async def reply(body: ReplyIn, request: Request, response: Response,
                    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None
                    ) -> ReplyOut:
        """Send a reply through the workspace's PlusVibe account exactly once per idempotency key of the workspace
        (`Idempotency-Key` header or `idempotencyKey`)."""
        key = (idempotency_key or body.idempotency_key or "").strip()
        if not key:
            raise ApiError(400, "idempotency_key_missing", "Send an Idempotency-Key header (or idempotencyKey).")
        if "\x00" in key:  # stored as text: PostgreSQL cannot hold NUL
            raise ApiError(400, "idempotency_key_invalid", "The idempotency key must not contain NUL characters.")
        if idempotency_key and body.idempotency_key and idempotency_key.strip() != body.idempotency_key.strip():
            raise ApiError(400, "idempotency_key_mismatch", "The header and body idempotency keys differ.")
        draft = send_reply.draft_of(body.reply_to_id, _address(body.from_, "from"), _address(body.to, "to"),
                                    body.subject, body.body_html)
        workspace = workspace_of(request)
        cache = service.threads_cache.of(workspace)
        try:
            outcome = await send_reply.send_reply(draft, key, uows=service.uow, pv=service.plusvibe(workspace),
                                                  workspace=workspace, on_sent=lambda to: cache.invalidate(to.lower()))
        except send_reply.ReplyError as exc:
            raise ApiError(exc.status_code, exc.reason, exc.message) from None
        if outcome.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return ReplyOut(reply_id=outcome.reply_id, status="sent", plusvibe_email_id=outcome.plusvibe_email_id,
                        reconciled=outcome.reconciled, sent_at=outcome.sent_at)

    @router.post("/threads/{thread_id}/read", response_model=MarkReadOut, dependencies=[write])
    async def read_thread(thread_id: str, request: Request,
                          body: Annotated[MarkReadBody | None, Body()] = None) -> MarkReadOut:
        """Mark every message of the thread read in the workspace's PlusVibe account; emits ThreadMarkedRead. A thread
        of another workspace is not found there: 404 `thread_not_found`, as any unknown thread."""
        if not _THREAD_ID.match(thread_id):
            raise ApiError(422, "invalid_thread_id", "threadId has an unexpected format.")
        email = _address(body.email, "email").lower() if body is not None and body.email else None
        workspace = workspace_of(request)
        try:
            marked_at = await mark_read.mark_read(thread_id, email, uows=service.uow, pv=service.plusvibe(workspace),
                                                  workspace=workspace)
        except NotFoundError:
            raise ApiError(404, "thread_not_found", "PlusVibe does not know this thread.") from None
        except PlusVibeError as exc:
            raise _plusvibe_error(exc) from None
        if email:
            service.threads_cache.of(workspace).invalidate(email)
        return MarkReadOut(thread_id=thread_id, marked_at=marked_at)

    return router


def webhook_router(service: UniboxService) -> APIRouter:
    router = APIRouter(prefix="/api/plusvibe", tags=["webhooks"])
    s = service.settings

    refused: dict[int | str, dict[str, Any]] = {401: {"description": "wrong or missing secret"}}

    @router.post("/webhooks", response_model=WebhookAck, responses=refused)
    async def webhook(request: Request) -> WebhookAck:
        """PlusVibe webhook receiver for hooks registered by hand. Verified by the deployment's shared secret
        (`UNIBOX_WEBHOOK_SECRET`) in the header named by `UNIBOX_WEBHOOK_SECRET_HEADER` (default
        `x-plusvibe-secret`), compared in constant time. Hooks leads registers per workspace post to
        `/webhooks/{workspace}` instead. The raw payload is stored before anything else; redeliveries are
        acknowledged and not emitted again."""
        _verify_secret(request, s)
        return await _accept(request, service)

    @router.post("/webhooks/{workspace}", response_model=WebhookAck,
                 responses={**refused, 404: {"description": "not a workspace name"}})
    async def workspace_webhook(workspace: str, request: Request) -> WebhookAck:
        """PlusVibe webhook receiver for the hook leads registered for a platform workspace. Verified by that
        workspace's secret (announced sealed in PlusVibeIntegrationChanged, opened with `PLUSVIBE_KEK`) in the
        header named by `UNIBOX_WEBHOOK_SECRET_HEADER`, compared in constant time; a workspace with no hook, a
        disconnected one or one whose secret does not open here refuses every delivery. Otherwise as
        `/webhooks`."""
        await _verify_workspace_secret(request, workspace, service)
        return await _accept(request, service, workspace)

    return router


async def _accept(request: Request, service: UniboxService, workspace: str = DEFAULT_WORKSPACE) -> WebhookAck:
    """A verified delivery's body → the webhook log (then processed), as part of `workspace`: the same for every
    receiver (the environment-secret route's deliveries belong to `default`)."""
    s = service.settings
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > s.webhook_max_body_bytes:
        raise ApiError(413, "payload_too_large", "The webhook payload is too large.")
    raw = await request.body()
    if len(raw) > s.webhook_max_body_bytes:
        raise ApiError(413, "payload_too_large", "The webhook payload is too large.")
    try:
        payload: Any = json.loads(raw, parse_constant=_not_json, parse_float=_finite_float)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity, too many digits
        raise ApiError(400, "invalid_payload", "The webhook body is not strict JSON (or nests too deeply).") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_payload", "The webhook body must be a JSON object.")
    if not is_storable_text(payload):
        # PostgreSQL cannot store NUL or unpaired surrogates: a 503 would make PlusVibe redeliver it forever.
        raise ApiError(400, "invalid_payload", "The webhook body contains NUL or unpaired surrogate characters.")
    try:
        receipt = await receive_webhook.receive(payload, service.uow, match_grace_s=s.webhook_match_grace_s,
                                                workspace=workspace)
    except Exception:
        log.exception("could not store a webhook")
        raise ApiError(503, "storage_unavailable", "The webhook could not be stored; redeliver it.") from None
    return WebhookAck(status="accepted", webhook_id=receipt.webhook_id, duplicate=receipt.duplicate)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf, which PostgreSQL's jsonb refuses
        raise ValueError(f"{text} is out of range")
    return value


def _secret_invalid() -> ApiError:
    return ApiError(401, "webhook_secret_invalid", "The webhook secret is missing or wrong.")


def _verify_secret(request: Request, s: UniboxSettings) -> None:
    expected = s.webhook_secret.get_secret_value() if s.webhook_secret is not None else ""
    # An unset secret refuses everything (fail closed).
    if not secret_matches(request.headers.get(s.webhook_secret_header), expected):
        raise _secret_invalid()


async def _verify_workspace_secret(request: Request, workspace: str, service: UniboxService) -> None:
    if not _WORKSPACE.fullmatch(workspace):
        raise ApiError(404, "unknown_workspace", "There is no workspace of that name.")
    try:
        expected = await service.webhook_secrets.secret(workspace)
    except Exception:
        log.exception("could not read a workspace's webhook secret")
        raise ApiError(503, "storage_unavailable", "The webhook secret could not be read; redeliver it.") from None
    if expected.unreadable:  # an operator's fix (restore the KEK or reconnect); the token itself is not logged
        log.warning("the workspace's stored webhook secret does not open with this deployment's KEK (PLUSVIBE_KEK); "
                    "its webhooks are refused", extra={"fields": {"workspace": workspace}})
    if not expected.admits(request.headers.get(service.settings.webhook_secret_header)):
        raise _secret_invalid()


def create_app(settings: UniboxSettings | None = None, *, embedded_workers: bool = False,
               service: UniboxService | None = None, **overrides: Any) -> FastAPI:
    # Called bare (`uvicorn --factory unibox.entrypoints.http:create_app`) it is a process: configure logs.
    svc = service or bootstrap(settings, configure_logs=settings is None and not overrides, **overrides)
    app = create_service_app(svc.runtime, title="unibox", routers=[unibox_router(svc), webhook_router(svc)],
                             embedded_workers=embedded_workers)
    app.state.service = svc
    return app


def app_factory() -> FastAPI:
    """`uvicorn --factory unibox.entrypoints.http:app_factory` (the same name in every service)."""
    svc = bootstrap(configure_logs=True)
    size_pool(svc.runtime, "api")
    return checked_app(create_app(service=svc), svc.runtime)
