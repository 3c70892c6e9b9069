"""Sealed credentials (plusvibe.credentials) and the port over the connected ones (plusvibe.connected), with
generated keys and contexts: a sealed key opens only with a KEK of its ring and only in its own context, a tampered
token never opens, rotation keeps every stored key readable, and a mask never shows more than four characters."""

from __future__ import annotations

import asyncio
import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from plusvibe.connected import ConnectedPlusVibe, NotConnectedError
from plusvibe.credentials import (
    DISCONNECTED,
    Credentials,
    KeyRing,
    KeyRingUnavailable,
    SealError,
    keyring_or_none,
    mask,
    new_kek,
)
from plusvibe.settings import PlusVibeSettings
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import running_simulator

KEYS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=200)
CONTEXTS = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=60)
RING = KeyRing([new_kek()])


@settings(max_examples=150, deadline=None)
@given(key=KEYS, context=CONTEXTS, other=CONTEXTS)
def test_a_sealed_key_opens_in_its_context_only(key: str, context: str, other: str) -> None:
    token = RING.seal(key, context=context)
    if len(key) >= 16:  # a short string may occur in any base64 text by chance
        assert key not in token
    assert RING.open(token, context=context).get_secret_value() == key
    if other != context:
        with pytest.raises(SealError):
            RING.open(token, context=other)


@settings(max_examples=150, deadline=None)
@given(key=KEYS, position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_a_tampered_token_never_opens(key: str, position: int, flip: int) -> None:
    raw = bytearray(base64.urlsafe_b64decode(RING.seal(key, context="ws")))
    raw[position % len(raw)] ^= flip
    with pytest.raises(SealError):
        RING.open(base64.urlsafe_b64encode(bytes(raw)).decode(), context="ws")


def test_kek_rotation_keeps_stored_keys_readable_and_reseals_under_the_new_one() -> None:
    old, new = new_kek(), new_kek()
    token = KeyRing([old]).seal("pv-secret-key-1234", context="ws")
    rotating = KeyRing.from_setting(SecretStr(f"{new},{old}"))
    assert rotating.open(token, context="ws").get_secret_value() == "pv-secret-key-1234"
    resealed = rotating.reseal(token)
    assert KeyRing([new]).open(resealed, context="ws").get_secret_value() == "pv-secret-key-1234"
    with pytest.raises(SealError):
        KeyRing([new]).open(token, context="ws")  # the old token needs the old KEK: reseal before dropping it
    with pytest.raises(SealError):
        KeyRing([new_kek()]).open(resealed, context="ws")


def test_no_kek_is_none_and_a_malformed_one_fails_at_start() -> None:
    assert keyring_or_none("") is None and keyring_or_none(SecretStr(" , ")) is None
    with pytest.raises(KeyRingUnavailable):
        keyring_or_none("not-a-fernet-key")


@given(key=KEYS)
def test_a_mask_shows_at_most_the_last_four_characters(key: str) -> None:
    shown = mask(key).removeprefix("…")
    assert len(shown) <= 4 and key.endswith(shown)
    if len(key) < 12:
        assert shown == ""


async def test_the_port_follows_the_connected_credentials() -> None:
    state = SimulatorState(api_key="pv-key-one-aaaa")
    state.api_keys.add("pv-key-two-bbbb")
    with running_simulator(state) as (base_url, sim):
        workspace = next(iter(sim.workspaces))
        stored: list[Credentials | None] = [None]

        async def resolve() -> Credentials | None:
            return stored[0]

        base = PlusVibeSettings(base_url=base_url, api_key=SecretStr("pv-key-one-aaaa"), workspace_id=workspace,
                                limit_store="process", requests_per_second=100)
        port = ConnectedPlusVibe(base, resolve, ttl_s=60)
        try:
            assert (await port.credentials()) == Credentials(SecretStr("pv-key-one-aaaa"), workspace)  # env fallback
            await port.list_campaigns()
            stored[0] = Credentials(SecretStr("pv-key-two-bbbb"), workspace)
            assert (await port.credentials()).api_key.get_secret_value() == "pv-key-one-aaaa"  # cached for the TTL
            port.invalidate()
            assert (await port.credentials()).api_key.get_secret_value() == "pv-key-two-bbbb"
            sim.api_keys.discard("pv-key-one-aaaa")
            await port.list_campaigns()  # goes out with the new key: the old one is revoked
            stored[0] = DISCONNECTED
            port.invalidate()
            before = len(sim.request_log(None))
            with pytest.raises(NotConnectedError, match="not connected"):
                await port.list_campaigns()
            assert len(sim.request_log(None)) == before  # refused here, nothing sent
        finally:
            await port.aclose()


async def test_a_change_made_while_credentials_are_being_read_is_not_lost() -> None:
    """invalidate() during a read: what that read returns may predate the change, so it is read again."""
    stored: list[Credentials] = [Credentials(SecretStr("pv-old-key-aaaa"), "ws")]
    entered, gate = asyncio.Event(), asyncio.Event()
    calls = 0

    async def resolve() -> Credentials | None:
        nonlocal calls
        calls += 1
        value = stored[0]
        if calls == 1:
            entered.set()
            await gate.wait()
        return value

    port = ConnectedPlusVibe(PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1"), resolve, ttl_s=60)
    reading = asyncio.create_task(port.credentials())
    await entered.wait()
    stored[0] = DISCONNECTED  # the disconnect commits while the first read is under way
    port.invalidate()
    gate.set()
    assert await reading is None and calls == 2
    assert await port.credentials() is None and calls == 2  # then cached for the TTL


async def test_only_the_default_workspace_falls_back_to_the_environments_key() -> None:
    from plusvibe.credential_store import StoredCredentials, connected_workspaces

    async def nothing_stored(_workspace: str) -> StoredCredentials | None:
        return None

    base = PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", api_key=SecretStr("pv-env-key-zzzz"),
                            workspace_id="env-ws", limit_store="process")
    ports = connected_workspaces(base, nothing_stored, ttl_s=60, unreadable=lambda: RuntimeError("unreadable"))
    try:
        assert await ports.connection("default").credentials() == Credentials(SecretStr("pv-env-key-zzzz"), "env-ws")
        assert await ports.connection("acme").credentials() is None
        with pytest.raises(NotConnectedError):  # refused here: nothing is sent with another client's key
            await ports.port("acme").list_campaigns()
        assert ports.connection("acme") is ports.connection("acme")  # one per workspace, kept
    finally:
        await ports.aclose()
