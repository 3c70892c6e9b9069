"""The routing table of the single entry point, the same as the Kubernetes Ingress: path prefix → service.

Longest prefix wins; anything unmatched goes to the dashboard.
"""

from __future__ import annotations

from typing import Final

ROUTES: Final[tuple[tuple[str, str], ...]] = (
    ("/api/leads", "leads"),
    ("/api/lead-statuses", "leads"),
    ("/api/plusvibe/leads", "leads"),
    ("/api/plusvibe/campaigns", "leads"),
    ("/api/plusvibe/integration", "leads"),
    ("/api/plusvibe/alerts", "leads"),
    ("/api/plusvibe/sync", "leads"),
    ("/api/copy-settings", "leads"),
    ("/api/integrations", "leads"),
    ("/api/workspaces", "leads"),
    ("/api/plusvibe/webhooks", "unibox"),
    ("/api/unibox", "unibox"),
    ("/api/audits", "audits"),
    ("/r/", "audits"),
    ("/api/writeback", "writeback"),
)
DEFAULT_SERVICE: Final = "dashboard"


def service_for(path: str) -> str:
    best = ""
    target = DEFAULT_SERVICE
    for prefix, service in ROUTES:
        matches = path == prefix.rstrip("/") or path.startswith(prefix if prefix.endswith("/") else prefix + "/") \
            or path == prefix
        if matches and len(prefix) > len(best):
            best, target = prefix, service
    return target
