"""Webhook delivery: POST flat JSON payloads to registered (loopback-only) URLs, redeliver on failure.

The real signature header is undocumented; the simulator sends the hook's secret verbatim in
``x-plusvibe-secret``. A receiver that answered late or failed gets the event again (duplicates).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from urllib.parse import urlsplit

import httpx

from plusvibe.simulator.state import Delivery, SimulatorState

log = logging.getLogger("plusvibe.simulator.webhooks")
SECRET_HEADER = "x-plusvibe-secret"


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs whose host is a loopback literal or ``localhost`` (no DNS lookup)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def deliver_once(state: SimulatorState, http: httpx.AsyncClient, delivery: Delivery) -> bool:
    """One attempt; on failure schedules the next one with exponential backoff."""
    headers = {"content-type": "application/json", "user-agent": "plusvibe-simulator"}
    if delivery.secret:
        headers[SECRET_HEADER] = delivery.secret
    delivery.attempts += 1
    ok = False
    if not is_loopback_url(delivery.url):
        delivery.last_error = "refused: not a loopback URL"
        delivery.attempts = state.webhook_max_attempts
        return False
    try:
        response = await http.post(delivery.url, json=delivery.payload, headers=headers, timeout=5.0)
        ok = 200 <= response.status_code < 300
        delivery.last_error = "" if ok else f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        delivery.last_error = type(exc).__name__
    with state.lock:
        delivery.delivered = ok
        if not ok:
            delivery.next_at = time.monotonic() + min(30.0, 0.5 * 2 ** (delivery.attempts - 1))
        hook = state.hooks.get(delivery.hook_id)
        if hook is not None:
            hook["last_run"] = state.now_iso()
            hook["last_resp"] = "OK" if ok else delivery.last_error
    return ok


async def flush(state: SimulatorState, http: httpx.AsyncClient) -> int:
    """Attempt every due delivery once; returns how many succeeded."""
    done = 0
    for delivery in state.due_deliveries():
        if await deliver_once(state, http, delivery):
            done += 1
    return done


async def run_dispatcher(state: SimulatorState, interval_s: float = 0.2) -> None:
    """Background loop of a running simulator."""
    async with httpx.AsyncClient(trust_env=False) as http:
        while True:
            try:
                await flush(state, http)
            except Exception:  # keep delivering whatever one bad hook does
                log.exception("webhook dispatch failed")
            await asyncio.sleep(interval_s)
