"""The launcher connects the demo PlusVibe integration the way an operator would on the Integrations page: through
the platform's API (`PUT /api/integrations/plusvibe`), which checks the key, stores it sealed and registers the
workspace's webhook in PlusVibe (here the simulator, which registers nothing by itself). Then it waits until unibox
accepts that webhook's secret, so the first event the simulator sends is not refused while the secret is still on
its way to unibox (it would be redelivered, but late)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

INTEGRATION = "/api/integrations/plusvibe"


@dataclass(frozen=True)
class DemoIntegration:
    gateway_url: str
    api_key: str  # the platform's API key (scope integrations:write)
    simulator_url: str
    plusvibe_key: str
    plusvibe_workspace_id: str


# The second demo client (docs/WORKSPACES.md): a platform workspace served but not connected, and the PlusVibe
# workspace and key an operator connects it with on the Integrations page.
SECOND_WORKSPACE = "second-client"
SECOND_PLUSVIBE_KEY = "sim-api-key-2"
SECOND_PLUSVIBE_WORKSPACE_NAME = "Second client"


def prepare_second_client(simulator_url: str) -> None:
    """The second client's PlusVibe side in the simulator: its workspace and campaign (seeded once) and its own
    API key (a second account key: its own rate limit)."""
    with httpx.Client(base_url=simulator_url, timeout=10.0, trust_env=False) as sim:
        sim.post("/_sim/seed", json={"name": "second-client"}).raise_for_status()
        sim.post("/_sim/api-keys", json={"key": SECOND_PLUSVIBE_KEY}).raise_for_status()


def connect(demo: DemoIntegration, *, timeout_s: float = 60.0) -> dict[str, Any]:
    """Connects (idempotent: connecting the same key again re-verifies and repairs the webhook) and returns the
    integration as the API shows it. Raises RuntimeError with the API's reason when it cannot."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=demo.gateway_url, headers={"X-API-Key": demo.api_key}, timeout=15.0,
                      trust_env=False) as api:
        view = _retrying(deadline, lambda: api.put(INTEGRATION, json={
            "apiKey": demo.plusvibe_key, "workspaceId": demo.plusvibe_workspace_id}))
        if view.get("webhookStatus") != "registered":
            raise RuntimeError(f"the demo integration connected, but its webhook is not registered: {view}")
        _wait_until_unibox_accepts(demo, view["webhookUrl"], deadline)
        return view


def _retrying(deadline: float, call: Callable[[], httpx.Response]) -> dict[str, Any]:
    """The answer's JSON; connection errors, 5xx and 429 are retried until the deadline (services still starting,
    the key's rate limit)."""
    last = ""
    while time.monotonic() < deadline:
        try:
            r = call()
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        else:
            if r.status_code == 200:
                return dict(r.json())
            last = f"HTTP {r.status_code}: {r.text[:300]}"
            if r.status_code < 500 and r.status_code != 429:
                break
        time.sleep(0.5)
    raise RuntimeError(f"the demo PlusVibe integration: {last}")


def _hook_secret(demo: DemoIntegration, url: str, deadline: float) -> str:
    """The secret of the hook the platform registered, as PlusVibe lists it (secrets included), read through the
    simulator's control API: a PlusVibe API call here would share the account's limit with the platform's processes
    without taking one of their send slots (the chaos run judges every request the simulator saw)."""
    with httpx.Client(timeout=10.0, trust_env=False) as sim:
        listed = _retrying(deadline, lambda: sim.get(
            f"{demo.simulator_url}/_sim/hooks", params={"workspace_id": demo.plusvibe_workspace_id}))
        secrets = [h.get("secret") for h in listed.get("hooks", []) if h.get("url") == url]
    if len(secrets) != 1 or not secrets[0]:
        raise RuntimeError(f"expected one hook at {url} in the simulator, found {len(secrets)}")
    return str(secrets[0])


def _wait_until_unibox_accepts(demo: DemoIntegration, url: str, deadline: float) -> None:
    """A body that is not a JSON object with the right secret: 400 once unibox knows the secret (nothing stored),
    401 until then."""
    secret = _hook_secret(demo, url, deadline)
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while True:
            status = 0
            try:
                status = client.post(url, content=b"[]", headers={"x-plusvibe-secret": secret,
                                                                  "content-type": "application/json"}).status_code
            except httpx.HTTPError:
                pass
            if status == 400:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"unibox does not accept the demo webhook's secret yet (last HTTP {status})")
            time.sleep(0.2)
