"""The audit engine: SSRF-safe fetching, checks and grading of one website (no service wiring)."""

from audits.engine.audit import parse_domain, run_audit
from audits.engine.errors import AuditFailure, FailureKind
from audits.engine.limits import AuditLimiter
from audits.engine.resolver import DnsPythonResolver, ResolutionError, Resolver
from audits.engine.settings import AllowEntry, AuditEngineSettings, Ports

__all__ = [
    "AllowEntry",
    "AuditEngineSettings",
    "AuditFailure",
    "AuditLimiter",
    "DnsPythonResolver",
    "FailureKind",
    "Ports",
    "ResolutionError",
    "Resolver",
    "parse_domain",
    "run_audit",
]
