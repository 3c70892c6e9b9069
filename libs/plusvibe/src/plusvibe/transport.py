"""One logical call = deadline + retries (stamina) + shared limiter + breaker + error mapping."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import stamina

from plusvibe import metrics
from plusvibe.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CircuitOpenError,
    DeadlineExceededError,
    NotFoundError,
    PermanentError,
    PlusVibeError,
    RateLimitedError,
    TransientError,
)
from plusvibe.limits import AccountGuard, SendSlot, SlotMissed, account_guard
from plusvibe.settings import PlusVibeSettings

log = logging.getLogger("plusvibe.client")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_message(response: httpx.Response) -> str:
    """Best-effort message: ``errors`` → ``message`` → ``error`` → short text."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(str(e) for e in errors)[:200]
        for key in ("message", "error"):
            if body.get(key):
                return str(body[key])[:200]
    return str(body)[:200]


# Slots a call may miss in a row (each miss sends nothing) before it fails as transient.
_SLOT_RETRIES = 20


@dataclass
class _CallState:
    attempts: int = 0
    maybe_sent: bool = False
    deadline_at: float = 0.0


class Caller:
    """Executes logical calls for one client; shares the account guard with every other client."""

    def __init__(self, settings: PlusVibeSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._secret = settings.api_key.get_secret_value()
        self._base = settings.base_url.rstrip("/")
        self._timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)

    def _guard(self) -> AccountGuard:
        return account_guard(self._settings)

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """Run one logical call; return the decoded JSON body or raise a ``PlusVibeError``."""
        s = self._settings
        state = _CallState(deadline_at=time.monotonic() + s.total_deadline_s)

        def backoff(exc: Exception) -> bool | float:
            if not isinstance(exc, TransientError):
                return False
            if isinstance(exc, CircuitOpenError | AmbiguousSendError):
                return False
            if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                remaining = state.deadline_at - time.monotonic()
                if exc.retry_after > s.max_retry_after_s or exc.retry_after > remaining:
                    return False
                return exc.retry_after
            return True

        try:
            async with asyncio.timeout(s.total_deadline_s):
                async for attempt in stamina.retry_context(
                    on=backoff,
                    attempts=s.attempts,
                    timeout=None,
                    wait_initial=s.backoff_initial_s,
                    wait_max=s.backoff_max_s,
                    wait_jitter=s.backoff_jitter_s,
                ):
                    with attempt:
                        return await self._attempt(method, path, params, body, idempotent, state)
        except TimeoutError:
            if not idempotent and state.maybe_sent:
                raise AmbiguousSendError(
                    f"deadline of {s.total_deadline_s:.1f}s hit while a non-idempotent request was in flight",
                    path=path,
                ) from None
            raise DeadlineExceededError(
                f"deadline of {s.total_deadline_s:.1f}s exceeded after {state.attempts} attempt(s)",
                path=path,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        idempotent: bool,
        state: _CallState,
    ) -> Any:
        guard = self._guard()
        breaker = guard.breaker
        if not breaker.allow_peek():
            raise CircuitOpenError(
                "circuit open after repeated failures; not calling PlusVibe",
                retry_in=breaker.retry_in(),
                path=path,
            )
        for _ in range(_SLOT_RETRIES):
            slot = await guard.acquire()
            started = time.perf_counter()
            try:
                payload = await self._send(method, path, params, body, idempotent, state, guard, slot)
            except SlotMissed:
                continue  # nothing was sent (not an attempt); wait for a new slot
            except PlusVibeError as exc:  # every attempt is counted in `plusvibe.metrics`
                metrics.observe(path, exc, None if isinstance(exc, CircuitOpenError) else time.perf_counter() - started)
                raise
            finally:
                slot.finish()
            metrics.observe(path, None, time.perf_counter() - started)
            return payload
        raise TransientError(f"missed {_SLOT_RETRIES} send slots in a row (event loop overloaded)", path=path)

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        idempotent: bool,
        state: _CallState,
        guard: AccountGuard,
        slot: SendSlot,
    ) -> Any:
        breaker = guard.breaker
        if not breaker.allow():
            slot.mark_unsent()
            raise CircuitOpenError(
                "circuit open after repeated failures; not calling PlusVibe",
                retry_in=breaker.retry_in(),
                path=path,
            )

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith("send_request_headers.started"):
                slot.check_on_time()
                slot.mark_sent()

        state.attempts += 1
        headers = {
            "x-api-key": self._secret,
            "User-Agent": self._settings.user_agent,
            "Accept": "application/json",
        }
        log.debug("plusvibe %s %s attempt=%d", method, path, state.attempts)
        try:
            state.maybe_sent = True
            response = await self._http.request(
                method,
                self._base + path,
                params=params,
                json=body,
                headers=headers,
                timeout=self._timeout,
                extensions={"trace": trace},
            )
            state.maybe_sent = False
        except SlotMissed:
            state.maybe_sent = False
            state.attempts -= 1
            breaker.abandon()
            raise
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the server: safe to retry even a non-idempotent call.
            state.maybe_sent = False
            slot.mark_unsent()
            breaker.record_failure()
            raise TransientError(f"cannot connect: {type(exc).__name__}", path=path) from None
        except httpx.TransportError as exc:
            breaker.record_failure()
            if not idempotent:
                raise AmbiguousSendError(
                    f"connection lost after sending ({type(exc).__name__}); outcome unknown",
                    path=path,
                ) from None
            state.maybe_sent = False
            raise TransientError(f"transport failure: {type(exc).__name__}", path=path) from None
        except BaseException:
            breaker.release()
            raise
        return self._classify(response, path, idempotent, breaker)

    def _classify(self, response: httpx.Response, path: str, idempotent: bool, breaker: Any) -> Any:
        code = response.status_code
        log.debug("plusvibe %s -> %d", path, code)
        if code == 429:
            breaker.release()
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise RateLimitedError("rate limited by PlusVibe", retry_after=retry_after, path=path)
        if code >= 500:
            breaker.record_failure()
            message = self._redact(error_message(response))
            if not idempotent:
                raise AmbiguousSendError(
                    f"server error on a non-idempotent call, outcome unknown: {message}",
                    status_code=code,
                    path=path,
                )
            raise TransientError(f"server error: {message}", status_code=code, path=path)
        if code >= 400:
            breaker.release()
            message = self._redact(error_message(response))
            error_type: type[PlusVibeError]
            if code in (401, 403):
                error_type = AuthenticationError
            elif code == 404:
                error_type = NotFoundError
            else:
                error_type = PermanentError
            raise error_type(message, status_code=code, path=path)
        try:
            payload = response.json() if response.content else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            breaker.record_failure()
            raise TransientError("non-JSON success body (gateway page?)", status_code=code, path=path) from None
        breaker.record_success()
        if isinstance(payload, dict) and str(payload.get("status", "")).lower() == "error":
            message = self._redact(error_message(response))
            raise PermanentError(f"PlusVibe reported an error: {message}", status_code=code, path=path)
        return payload
