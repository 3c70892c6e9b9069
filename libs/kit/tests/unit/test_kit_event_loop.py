"""The worker processes' event loop: uvloop by default, asyncio's own when the service's `event_loop` setting says
so (`<SVC>_EVENT_LOOP=asyncio`)."""

from __future__ import annotations

import pytest

from servicekit.process.event_loop import run, running_loop_kind
from servicekit.process.settings import ServiceSettings


async def _kind() -> str:
    return running_loop_kind()


def test_run_uses_uvloop_by_default_and_asyncio_when_asked() -> None:
    assert run(_kind()) == "uvloop"
    assert run(_kind(), loop="uvloop") == "uvloop"
    assert run(_kind(), loop="asyncio") == "asyncio"


def test_the_setting_is_uvloop_unless_the_environment_says_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    class Svc(ServiceSettings):
        model_config = ServiceSettings.model_config | {"env_prefix": "SVCX_"}

    assert Svc().event_loop == "uvloop"
    monkeypatch.setenv("SVCX_EVENT_LOOP", "asyncio")
    assert Svc().event_loop == "asyncio"
    monkeypatch.setenv("SVCX_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        Svc()
