"""The simulator as an ASGI app: PlusVibe paths under ``/api/v1``, control API under ``/_sim``.

Documented choices where the real API is unknown: a missing or unknown ``workspace_id`` → 400;
error bodies are ``{"status": "error", "message": ...}``; 429s carry ``Retry-After: 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from plusvibe.simulator import webhooks
from plusvibe.simulator.faults import FaultRule
from plusvibe.simulator.state import SimError, SimulatorState, max_in_any_second

API_PREFIX = "/api/v1"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# Leads a tick sends before it lets the event loop stamp the requests that arrived meanwhile (a few ms of work).
TICK_CHUNK = 20


async def _tick(sim: SimulatorState) -> list[dict[str, Any]]:
    """One tick of the send loop, a few leads at a time. The simulator is also the judge of the account's rate: it
    stamps each PlusVibe request as its event loop takes it in, and a tick of 10,000 leads done in one go held the
    loop for seconds, so a request sent on its slot meanwhile was stamped next to the following one."""
    keys = sim.start_tick()
    sent: list[dict[str, Any]] = []
    for start in range(0, len(keys), TICK_CHUNK):
        sent.extend(sim.tick_leads(keys[start:start + TICK_CHUNK]))
        await asyncio.sleep(0)
    sim.save()
    return sent


async def _off_loop(build: Callable[[], Any]) -> Response:
    """A large control answer (the request log, the deliveries of a 10,000-lead run) built and encoded in a worker
    thread, for the same reason as `_tick`: the event loop keeps stamping PlusVibe requests while it is made."""
    raw = await asyncio.to_thread(lambda: json.dumps(build()).encode())
    return Response(raw, media_type="application/json")


class DroppedConnection(Exception):
    """Raised after a partial response so the server aborts the connection (scripted fault)."""


def _fingerprint(key: str | None) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else "-"


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


LEAD_BODY_PATHS = frozenset({f"{API_PREFIX}/lead/data/update"})  # POST bodies naming one lead (`email`)
LEAD_QUERY_PATHS = frozenset({f"{API_PREFIX}/lead/get"})  # GET queries naming one lead (`email`)


async def _lead_of(scope: Scope, receive: Receive) -> tuple[Receive, str]:
    """The email of the lead a call is about (for the request log: calls per lead), and a `receive` that replays the
    body it had to read to find it."""
    path = str(scope["path"])
    if path in LEAD_QUERY_PATHS:
        query = parse_qs(bytes(scope.get("query_string") or b"").decode("latin-1"))
        return receive, (query.get("email") or [""])[0].lower()
    if path not in LEAD_BODY_PATHS:
        return receive, ""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    try:
        parsed = json.loads(body or b"{}")
        email = str(parsed.get("email") or "").lower() if isinstance(parsed, dict) else ""
    except ValueError:
        email = ""

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay, email


class PlusVibeEdge:
    """Auth, rate limit, scripted faults and the request log, in front of the API routes."""

    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state
        arrived = time.monotonic()
        method, path = str(scope["method"]), str(scope["path"])
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("x-api-key")
        fp = _fingerprint(key)

        receive, lead = await _lead_of(scope, receive)
        # Logged on arrival so a test that got its answer already sees the request.
        entry = state.log_request(method, path, 0, fp, "", arrived, lead=lead)

        def record(status: int, fault: str = "") -> None:
            entry.status, entry.fault = status, fault

        if not state.key_known(key):
            record(401)
            await _send_json(send, 401, {"status": "error", "message": "invalid api key"})
            return
        if state.rate_limited(fp, arrived):
            record(429)
            await _send_json(send, 429, {"status": "error", "message": "rate limit exceeded"}, {"retry-after": "1"})
            return
        rule = state.faults.take(method, path, bytes(scope.get("query_string") or b"").decode("latin-1"))
        if rule is not None:
            await self._faulty(rule, scope, receive, send, record)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                record(int(message["status"]))
            await send(message)

        await self.app(scope, receive, watch)

    async def _faulty(
        self, rule: FaultRule, scope: Scope, receive: Receive, send: Send, record: Callable[[int, str], None]
    ) -> None:
        if rule.delay_s:
            await asyncio.sleep(rule.delay_s)
        if rule.status is not None:
            record(rule.status, "status")
            extra = {"retry-after": rule.retry_after} if rule.retry_after is not None else {}
            await _send_json(send, rule.status, {"status": "error", "message": f"injected {rule.status}"}, extra)
            return
        if rule.drop == "before":
            record(0, "drop-before")
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise DroppedConnection("scripted drop before applying")
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in captured if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
        status = int(start["status"])
        if rule.drop == "after":
            record(status, "drop-after")
            await send(start)
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise DroppedConnection("scripted drop after applying")
        if rule.trickle_interval_s:
            record(status, "trickle")
            await self._trickle(start, body, rule.trickle_interval_s, receive, send)
            return
        record(status, "delay")
        for message in captured:
            await send(message)

    @staticmethod
    async def _trickle(start: Message, body: bytes, interval: float, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def wait_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.create_task(wait_disconnect())
        try:
            await send(start)
            for i in range(len(body)):
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": True})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gone.wait(), interval)
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        raise SimError(400, "invalid integer parameter") from None


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise SimError(400, "invalid JSON body") from None
    if not isinstance(data, dict):
        raise SimError(400, "JSON body must be an object")
    return data


def _ws(request: Request, body: dict[str, Any] | None = None) -> str | None:
    value = request.query_params.get("workspace_id")
    if not value and body is not None:
        value = body.get("workspace_id")
    return str(value) if value else None


def create_app(
    state: SimulatorState | None = None,
    *,
    tick_seconds: float | None = None,
    dispatch_webhooks: bool = True,
) -> FastAPI:
    """Build the simulator app around ``state`` (a fresh empty one by default). It registers no webhook by itself,
    as PlusVibe does not: a client adds hooks through ``/hook/add`` (the platform does when an integration is
    connected)."""
    sim = state or SimulatorState()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        if dispatch_webhooks:
            tasks.append(asyncio.create_task(webhooks.run_dispatcher(sim)))
        if tick_seconds:

            async def ticker() -> None:
                while True:
                    await asyncio.sleep(tick_seconds)
                    await _tick(sim)

            tasks.append(asyncio.create_task(ticker()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="PlusVibe simulator", lifespan=lifespan, docs_url="/_sim/docs", openapi_url="/_sim/openapi.json"
    )
    app.state.sim = sim

    @app.exception_handler(SimError)
    async def sim_error(_: Request, exc: SimError) -> JSONResponse:
        return JSONResponse({"status": "error", "message": exc.message}, status_code=exc.status)

    api = API_PREFIX

    @app.get(f"{api}/authenticate")
    async def authenticate() -> Any:
        return sim.api_authenticate()

    @app.get(f"{api}/campaign/list-all")
    async def campaign_list_all(request: Request) -> Any:
        q = request.query_params
        return sim.api_campaigns(
            _ws(request),
            _int(q.get("skip"), 0),
            _int(q.get("limit"), 100),
            q.get("campaign_type") or "all",
            q.get("status") or None,
            q.get("campaign_id") or None,
        )

    @app.get(f"{api}/campaign/list")
    async def campaign_list_legacy(request: Request) -> Any:
        q = request.query_params
        rows = sim.api_campaigns(_ws(request), _int(q.get("skip"), 0), _int(q.get("limit"), 100))
        if not isinstance(rows, list):
            return []
        return [{"id": c["id"], "status": c["status"], "name": c["camp_name"]} for c in rows]

    @app.patch(f"{api}/campaign/update/campaign")
    async def campaign_update(request: Request) -> Any:
        body = await _json_body(request)
        body["workspace_id"] = _ws(request, body)
        result = sim.api_update_campaign(body)
        sim.save()
        return result

    @app.get(f"{api}/account/list")
    async def account_list(request: Request) -> Any:
        q = request.query_params
        return sim.api_accounts(_ws(request), _int(q.get("skip"), 0), _int(q.get("limit"), 100), q.get("email"))

    @app.post(f"{api}/lead/add")
    async def lead_add(request: Request) -> Any:
        body = await _json_body(request)
        body["workspace_id"] = _ws(request, body)
        result = sim.api_lead_add(body)
        sim.save()
        return result

    @app.post(f"{api}/lead/data/update")
    async def lead_data_update(request: Request) -> Any:
        body = await _json_body(request)
        body["workspace_id"] = _ws(request, body)
        result = sim.api_lead_data_update(body)
        sim.save()
        return result

    @app.post(f"{api}/lead/update/status")
    async def lead_update_status(request: Request) -> Any:
        body = await _json_body(request)
        body["workspace_id"] = _ws(request, body)
        result = sim.api_lead_status(body)
        sim.save()
        return result

    @app.post(f"{api}/lead/delete")
    async def lead_delete(request: Request) -> Any:
        body = await _json_body(request)
        body["workspace_id"] = _ws(request, body)
        result = sim.api_lead_delete(body)
        sim.save()
        return result

    @app.get(f"{api}/lead/get")
    async def lead_get(request: Request) -> Any:
        q = request.query_params
        return sim.api_lead_get(
            _ws(request),
            q.get("email"),
            q.get("campaign_id") or None,
            _int(q.get("skip"), 0),
            _int(q.get("limit"), 100),
        )

    @app.get(f"{api}/lead/workspace-leads")
    async def workspace_leads(request: Request) -> Any:
        return sim.api_workspace_leads(_ws(request), dict(request.query_params))

    @app.get(f"{api}/unibox/emails")
    async def unibox_emails(request: Request) -> Any:
        q = request.query_params
        return sim.api_unibox_emails(
            _ws(request), q.get("lead"), q.get("email_type") or "all", q.get("campaign_id"), q.get("page_trail")
        )

    @app.get(f"{api}/unibox/emails/count/unread")
    async def unread_count(request: Request) -> Any:
        wid = _ws(request)
        with sim.lock:
            sim.workspace(wid)
            return {"count": sum(1 for e in sim.emails if e["workspace_id"] == wid and e["is_unread"])}

    @app.post(f"{api}/unibox/emails/reply")
    async def unibox_reply(request: Request) -> Any:
        body = await _json_body(request)
        result = sim.api_reply(_ws(request, body), body)
        sim.save()
        return result

    @app.post(api + "/unibox/threads/{thread_id}/mark-as-read")
    async def mark_read(thread_id: str, request: Request) -> Any:
        body = await _json_body(request)
        return sim.api_mark_read(_ws(request, body), thread_id)

    @app.post(f"{api}/hook/add")
    async def hook_add(request: Request) -> Any:
        body = await _json_body(request)
        body["workspace_id"] = _ws(request, body)
        return sim.api_hook_add(body)

    @app.get(f"{api}/hook/list")
    async def hook_list(request: Request) -> Any:
        return sim.api_hook_list(_ws(request))

    @app.delete(f"{api}/hook/del")
    async def hook_del(request: Request) -> Any:
        body = await _json_body(request)
        return sim.api_hook_del(_ws(request, body), body)

    _control_routes(app, sim)
    app.add_middleware(_EdgeMiddleware, state=sim)
    return app


class _EdgeMiddleware:
    """Adapter so FastAPI's middleware stack builds ``PlusVibeEdge`` with the app inside."""

    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.edge = PlusVibeEdge(app, state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.edge(scope, receive, send)


def _control_routes(app: FastAPI, sim: SimulatorState) -> None:
    """Test/demo controls; never part of the PlusVibe surface."""

    @app.get("/_sim/health")
    async def health() -> Any:
        return {"status": "ok", "tick": sim.tick_count}

    @app.post("/_sim/reset")
    async def reset() -> Any:
        sim.reset()
        return {"status": "success"}

    @app.post("/_sim/seed")
    async def seed(request: Request) -> Any:
        body = await _json_body(request)
        return sim.seed(str(body.get("name", "demo")))

    @app.post("/_sim/tick")
    async def tick(request: Request) -> Any:
        body = await _json_body(request)
        sent: list[dict[str, Any]] = []
        for _ in range(max(1, int(body.get("count", 1)))):
            sent.extend(await _tick(sim))
        return await _off_loop(lambda: {"tick": sim.tick_count, "sent": sent})

    @app.post("/_sim/api-keys")
    async def add_api_key(request: Request) -> Any:
        """Another key of the account PlusVibe accepts (an operator created a key)."""
        key = str((await _json_body(request)).get("key", ""))
        if not key:
            raise SimError(400, "key is required")
        with sim.lock:
            sim.api_keys.add(key)
        return {"status": "success"}

    @app.post("/_sim/api-keys/revoke")
    async def revoke_api_key(request: Request) -> Any:
        """PlusVibe answers 401 to this key from now on (an operator revoked it)."""
        key = str((await _json_body(request)).get("key", ""))
        with sim.lock:
            sim.api_keys.discard(key)
        return {"status": "success"}

    @app.get("/_sim/faults")
    async def list_faults() -> Any:
        return [r.public() for r in sim.faults.rules()]

    @app.post("/_sim/faults")
    async def add_fault(request: Request) -> Any:
        body = await _json_body(request)
        allowed = set(FaultRule.__dataclass_fields__) - {"hits", "_run", "_rng"}
        unknown = set(body) - allowed
        if unknown:
            raise SimError(400, f"unknown fault fields: {sorted(unknown)}")
        return sim.faults.add(FaultRule(**body)).public()

    @app.delete("/_sim/faults")
    async def clear_faults() -> Any:
        sim.faults.clear()
        return {"status": "success"}

    @app.get("/_sim/hooks")
    async def hooks(request: Request) -> Any:
        """A workspace's hooks as `/hook/list` shows them (secrets included), through the control API: a test or the
        launcher reads them without a PlusVibe request that would count against the account's limit."""
        return sim.api_hook_list(request.query_params.get("workspace_id"))

    @app.get("/_sim/requests")
    async def requests(request: Request) -> Any:
        path = request.query_params.get("path")
        log = sim.request_log(path)
        return await _off_loop(lambda: {"requests": [asdict(r) for r in log],
                                        "max_in_any_second": max_in_any_second([r.mono for r in log])})

    @app.get("/_sim/lead-updates")
    async def lead_updates() -> Any:
        """Every applied `/lead/data/update`: whom it was for and when (the request log has no bodies)."""
        with sim.lock:
            updates = list(sim.variable_updates)
        return await _off_loop(lambda: updates)

    @app.get("/_sim/empty-placeholders")
    async def empty_placeholders() -> Any:
        with sim.lock:
            empty = list(sim.empty_placeholders)
        return await _off_loop(lambda: empty)

    @app.get("/_sim/sent")
    async def sent() -> Any:
        with sim.lock:
            messages = list(sim.sent)
        return await _off_loop(lambda: messages)

    @app.get("/_sim/deliveries")
    async def deliveries(request: Request) -> Any:
        """Every webhook delivery; `?pending=1`: only those not delivered yet that will still be tried (a short list to
        poll while thousands are delivered)."""
        pending = request.query_params.get("pending") in ("1", "true")
        with sim.lock:
            records = [d for d in sim.deliveries
                       if not pending or (not d.delivered and d.attempts < sim.webhook_max_attempts)]
        return await _off_loop(lambda: [asdict(d) for d in records])

    @app.post("/_sim/webhooks/flush")
    async def flush() -> Any:
        async with httpx.AsyncClient(trust_env=False) as http:
            return {"delivered": await webhooks.flush(sim, http)}

    @app.post("/_sim/campaigns")
    async def create_campaign(request: Request) -> Any:
        body = await _json_body(request)
        cid = sim.create_campaign(body)
        sim.save()
        return {"id": cid}

    @app.get("/_sim/config")
    async def get_config() -> Any:
        return sim.config()

    @app.post("/_sim/config")
    async def set_config(request: Request) -> Any:
        return sim.configure(await _json_body(request))

    @app.post("/_sim/campaigns/{campaign_id}/status")
    async def campaign_status(campaign_id: str, request: Request) -> Any:
        body = await _json_body(request)
        sim.set_campaign_status(campaign_id, str(body.get("status", "")))
        return {"status": "success"}

    @app.post("/_sim/inject/reply")
    async def inject_reply(request: Request) -> Any:
        b = await _json_body(request)
        return sim.inject_reply(
            str(b["email"]),
            str(b.get("text", "")),
            campaign_id=b.get("campaign_id"),
            subject=b.get("subject"),
            html=b.get("html"),
            label=b.get("label"),
        )

    @app.post("/_sim/inject/bounce")
    async def inject_bounce(request: Request) -> Any:
        b = await _json_body(request)
        sim.inject_bounce(
            str(b["email"]), campaign_id=b.get("campaign_id"), is_camp_paused=bool(b.get("is_camp_paused"))
        )
        return {"status": "success"}

    @app.post("/_sim/inject/label")
    async def inject_label(request: Request) -> Any:
        b = await _json_body(request)
        sim.inject_label(str(b["email"]), str(b["label"]), campaign_id=b.get("campaign_id"))
        return {"status": "success"}

    @app.post("/_sim/inject/alert")
    async def inject_alert(request: Request) -> Any:
        b = await _json_body(request)
        if not isinstance(b.get("alert"), str) or not b["alert"]:
            raise SimError(400, "alert is required")
        queued = sim.emit_alert(b["alert"], workspace_id=b.get("workspace_id"), campaign_id=b.get("campaign_id"),
                                message=str(b.get("message") or ""))
        return {"status": "success", "queued": queued}

    @app.post("/_sim/inject/open")
    async def inject_open(request: Request) -> Any:
        b = await _json_body(request)
        sim.inject_open(str(b["email"]), campaign_id=b.get("campaign_id"))
        return {"status": "success"}
