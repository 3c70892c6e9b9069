"""The PlusVibe client as leads uses it: the real client when an API key is configured, otherwise a stand-in
that refuses every call with `plusvibe_not_configured` (the system never guesses an endpoint)."""

from __future__ import annotations

from typing import Any

from leads.domain.refusals import Refusal


class UnconfiguredPlusVibe:
    """Every attribute is a coroutine that refuses: Integrations have no API key and workspace."""

    def __getattr__(self, name: str) -> Any:
        async def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise Refusal("unavailable", "plusvibe_not_configured",
                          "PlusVibe is not configured: set an API key and workspace under Integrations.")

        return refuse
