"""PlusVibe wiring: the real client from `PLUSVIBE_*` settings (pointed at the simulator locally)."""

from __future__ import annotations

from plusvibe.client import PlusVibeClient
from plusvibe.settings import PlusVibeSettings


def make_plusvibe_client(settings: PlusVibeSettings | None = None) -> PlusVibeClient:
    return PlusVibeClient(settings or PlusVibeSettings())
