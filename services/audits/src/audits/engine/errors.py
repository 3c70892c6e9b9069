"""The one exception an audit raises when it cannot produce a result."""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    """Why an audit could not complete; stable values for events and dashboards."""

    INVALID_DOMAIN = "invalid_domain"
    BLOCKED_ADDRESS = "blocked_address"
    BLOCKED_URL = "blocked_url"
    DNS_FAILURE = "dns_failure"
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_ERROR = "connection_error"
    TLS_ERROR = "tls_error"
    TOO_LARGE = "too_large"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    BAD_RESPONSE = "bad_response"


class AuditFailure(Exception):
    """An audit that could not complete; `message` is written for an operator, not a developer."""

    def __init__(self, kind: FailureKind, message: str, *, url: str | None = None) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind
        self.message = message
        self.url = url  # the address whose request failed, when one was sent
