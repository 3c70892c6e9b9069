"""Response headers that lock the dashboard down: a strict Content-Security-Policy (own scripts and styles
only, no inline code, no third-party origins) plus the usual hardening headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# frame-src 'none' is not needed for the Unibox viewer: a `srcdoc` iframe loads nothing over the network and
# inherits this policy, so message HTML can neither run script nor fetch remote images (tracking pixels).
CONTENT_SECURITY_POLICY: Final = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "frame-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
))

SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
