"""PlusVibe credentials at rest and in transit: sealed with the deployment's key-encryption key (KEK).

A PlusVibe API key is stored, and travels between services, only as a *sealed* token: Fernet (AES-128-CBC with an
HMAC-SHA256 over the whole token, from `cryptography`), under a KEK every service that calls PlusVibe is given
(env `PLUSVIBE_KEK`, from a Kubernetes Secret). Without the KEK a table dump or a copy of a topic holds nothing
usable. The seal binds the key to its context (the platform workspace it belongs to): a token copied to another
workspace's row does not open there.

KEK rotation without downtime (MultiFernet): `PLUSVIBE_KEK` is a comma-separated list, the first key seals, every
key opens. Roll out "new,old" to every service, re-seal what is stored (`KeyRing.reseal`), then drop "old".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from plusvibe.limits import key_fingerprint

_SEPARATOR = "\n"


class SealError(Exception):
    """The token is not one this key ring sealed for this context (wrong KEK, tampered, other context)."""


class KeyRingUnavailable(Exception):
    """No key-encryption key is configured: credentials cannot be stored or read."""


def new_kek() -> str:
    """A fresh key-encryption key (URL-safe base64 of 32 random bytes), e.g. for a Secret."""
    return Fernet.generate_key().decode()


class KeyRing:
    """Seals and opens credentials with the deployment's KEK(s); the first key seals, every key opens."""

    def __init__(self, keys: Sequence[str]) -> None:
        cleaned = [k.strip() for k in keys if k.strip()]
        if not cleaned:
            raise KeyRingUnavailable("no key-encryption key configured (PLUSVIBE_KEK)")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in cleaned])
        except ValueError:
            raise KeyRingUnavailable("PLUSVIBE_KEK holds a key that is not 32 url-safe base64-encoded bytes") from None

    @classmethod
    def from_setting(cls, value: SecretStr | str | None) -> KeyRing:
        text = value.get_secret_value() if isinstance(value, SecretStr) else (value or "")
        return cls(text.split(","))

    def seal(self, secret: str, *, context: str) -> str:
        if _SEPARATOR in context:
            raise ValueError("a seal context cannot contain a newline")
        return self._fernet.encrypt(f"{context}{_SEPARATOR}{secret}".encode()).decode()

    def open(self, token: str, *, context: str) -> SecretStr:
        try:
            plain = self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, UnicodeDecodeError):
            raise SealError("the sealed credential does not open with this deployment's KEK") from None
        sealed_for, _, secret = plain.partition(_SEPARATOR)
        if sealed_for != context:
            raise SealError("the sealed credential belongs to another context")
        return SecretStr(secret)

    def reseal(self, token: str) -> str:
        """The same credential sealed under the current first KEK (KEK rotation)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SealError("the sealed credential does not open with this deployment's KEK") from None


# A short, non-reversible id of a key (equal keys, equal fingerprints): the one the rate limiter keys accounts by.
fingerprint = key_fingerprint


def mask(api_key: str) -> str:
    """What an operator may see of a key: its last four characters, and only when the key is long enough that
    four are a small part of it."""
    return f"…{api_key[-4:]}" if len(api_key) >= 12 else "…"


@dataclass(frozen=True)
class Credentials:
    """An account's API key and the PlusVibe workspace to work in. `connected` is False for a workspace whose
    integration was disconnected (it must not fall back to anything)."""

    api_key: SecretStr
    workspace_id: str

    @property
    def connected(self) -> bool:
        return bool(self.api_key.get_secret_value() and self.workspace_id)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.api_key.get_secret_value())


DISCONNECTED = Credentials(SecretStr(""), "")


def open_stored(*, connected: bool, sealed_api_key: str, plusvibe_workspace_id: str, keyring: KeyRing | None,
                context: str) -> Credentials:
    """The credentials a stored integration row stands for (`DISCONNECTED` for a disconnected one). Raises
    `KeyRingUnavailable` / `SealError` when the row holds a key this deployment cannot open."""
    if not connected:
        return DISCONNECTED
    if keyring is None:
        raise KeyRingUnavailable("no key-encryption key configured (PLUSVIBE_KEK)")
    return Credentials(keyring.open(sealed_api_key, context=context), plusvibe_workspace_id)


def keyring_or_none(value: SecretStr | str | None) -> KeyRing | None:
    """The configured key ring; None when no KEK is set. A malformed KEK raises `KeyRingUnavailable` (at start-up,
    not at the first call)."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else (value or "")
    return KeyRing.from_setting(text) if text.strip(" ,") else None
