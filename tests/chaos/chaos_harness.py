"""The fault harness: the real system as the launcher starts it (every service's API, consumers and relay as
separate processes, the PlusVibe simulator, the demo sites, the gateway) on a private broker of its own, with
faults injected by role at *observed* progress marks, never after a fixed sleep:

- `kill(name)`: SIGKILL a process (its whole process group) and start it again with the same command;
- `pause(name)` / `resume(name)`: SIGSTOP / SIGCONT (a consumer that stops heart-beating loses its partitions);
- `add_member(name)`: one more process of a role (a second consumer joins the group); `kill(..., restart=False)`
  makes one leave without a goodbye;
- `kill_broker()`: kill -9 the broker and start it again on the same log directories;
- `until(...)`, `in_flight_leads(...)`: the progress marks (a predicate polled until it holds; a PlusVibe call the
  simulator has received and not yet answered).

Every fault is written to `faults` (what, when, at which progress), so a report can say what happened. The
history checker (history.py) judges the outcome; this module only makes things happen.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from kafka_private_broker import PrivateBroker

from outreach_local.system import LocalSystem, Proc, free_port


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds since the harness started
    kind: str  # sigkill | sigstop | sigcont | join | broker-kill | broker-start | outage-start | outage-end
    target: str
    mark: str  # the progress mark it was injected at


@dataclass
class ChaosSystem:
    system: LocalSystem
    broker: PrivateBroker
    faults: list[Fault] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _members: collections.Counter[str] = field(default_factory=collections.Counter)

    # ------------------------------------------------------------------ processes
    def note(self, kind: str, target: str, mark: str) -> None:
        """Records a fault injected here or by the test itself (e.g. the PlusVibe outage's start and end)."""
        fault = Fault(round(time.monotonic() - self.started, 2), kind, target, mark)
        self.faults.append(fault)
        print(f"[chaos] {fault.at_s:8.2f}s {kind:<12} {target:<24} at {mark}", flush=True)

    def _proc(self, name: str) -> Proc:
        return self.system.process(name)

    async def kill(self, name: str, *, mark: str, restart: bool = True, seen_ready: bool = False) -> None:
        """SIGKILL (no goodbye: no offset commit, no group leave, no flush) and, by default, start it again. The
        process is first seen ready (its health probe answers 200): a fault hits a working process, not one
        still starting from the previous fault. `seen_ready`: the caller saw it ready just now and the kill must
        land at once (a PlusVibe call observed in flight would otherwise finish while the probe is retried)."""
        if not seen_ready:
            await self.until(lambda: self.ready(name), f"{name} ready", timeout_s=120, interval_s=0.2)
        proc = self._proc(name)
        assert proc.popen is not None and proc.popen.poll() is None, f"{name} is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(10)
        self.note("sigkill", name, mark)
        if restart:
            self.system.start_process(name)

    def pause(self, name: str, *, mark: str) -> None:
        proc = self._proc(name)
        assert proc.popen is not None
        os.killpg(proc.popen.pid, signal.SIGSTOP)
        self.note("sigstop", name, mark)

    def resume(self, name: str, *, mark: str) -> None:
        proc = self._proc(name)
        assert proc.popen is not None
        os.killpg(proc.popen.pid, signal.SIGCONT)
        self.note("sigcont", name, mark)

    async def add_member(self, name: str, service: str, *, mark: str) -> str:
        """Starts one more process of `name`'s role (same command and environment, its own health port) and
        returns once every consumer group of `service` is Stable with one member more: a rebalance done."""
        before = await self.group_members(service)
        template = self._proc(name)
        self._members[name] += 1
        member = f"{name}+{self._members[name]}"
        env = dict(template.env)
        for key in env:
            if key.endswith("_WORKER_HEALTH_PORT"):
                env[key] = str(free_port())
        self.system._spawn(replace(template, name=member, env=env, popen=None))
        self.note("join", member, mark)

        async def joined() -> bool:
            now = await self.group_members(service)
            return bool(now) and all(now.get(g, 0) > n for g, n in before.items())

        await self.until(joined, f"{member} in every {service} group", timeout_s=120, interval_s=0.5)
        self.note("joined", member, "every group rebalanced")
        return member

    async def ready(self, name: str) -> bool:
        proc = self._proc(name)
        if proc.health_url is None:
            return proc.popen is not None and proc.popen.poll() is None
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
            try:
                return (await http.get(proc.health_url)).status_code == 200
            except httpx.HTTPError:
                return False

    async def group_members(self, service: str) -> dict[str, int]:
        """Members of each of `service`'s consumer groups that are Stable (a rebalance finished), by group."""
        from servicekit.messaging.kafka_admin import admin_client, describe_group, list_groups

        prefix = self.system.config.topic_prefix
        out: dict[str, int] = {}
        async with admin_client(self.broker.bootstrap) as admin:
            for group in await list_groups(admin, f"{prefix}{service}."):  # groups are <service>.<handler>
                state = await describe_group(admin, group)
                out[group] = len(state.members) if state.state == "Stable" else 0
        return out

    def running(self, name: str) -> bool:
        proc = self._proc(name)
        return proc.popen is not None and proc.popen.poll() is None

    def exited(self) -> list[str]:
        """Processes that died without being killed here (a crash the run must not hide)."""
        return [p.name for p in self.system.procs if p.popen is not None and p.popen.poll() is not None
                and p.popen.returncode != -signal.SIGKILL]

    # ------------------------------------------------------------------ broker
    async def kill_broker(self, *, mark: str, down_s: float = 2.0) -> None:
        """kill -9 the broker, leave it down `down_s`, start it again on the same log directories (the start
        returns once the broker answers)."""
        await asyncio.to_thread(self.broker.run, "kill")
        self.note("broker-kill", "kafka", mark)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.broker.start)
        self.note("broker-start", "kafka", mark)

    # ------------------------------------------------------------------ PlusVibe (the simulator's fault plan)
    async def set_plusvibe_faults(self, sim: httpx.AsyncClient, rules: list[dict[str, Any]]) -> None:
        """Replaces the simulator's fault rules (the first matching rule applies, so order matters)."""
        (await sim.delete("/_sim/faults")).raise_for_status()
        for rule in rules:
            (await sim.post("/_sim/faults", json=rule)).raise_for_status()

    # ------------------------------------------------------------------ progress marks
    async def until(self, predicate: Callable[[], Awaitable[bool]], what: str, *, timeout_s: float,
                    interval_s: float = 0.05) -> None:
        deadline = time.monotonic() + timeout_s
        while not await predicate():
            crashed = self.exited()
            if crashed:
                raise AssertionError(f"processes died by themselves while waiting for {what}: {crashed}\n" +
                                     "\n".join(self.system.tail(n) for n in crashed))
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            await asyncio.sleep(interval_s)


async def in_flight_leads(sim: httpx.AsyncClient, path: str) -> list[str]:
    """The leads (emails) of the requests on `path` the simulator has received and not answered yet."""
    log = (await sim.get("/_sim/requests", params={"path": path})).json()["requests"]
    return [str(r.get("lead") or "?") for r in log if r["status"] == 0]
