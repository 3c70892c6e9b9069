"""The composition root of the audits service: settings → runtime (engine, UoW, broker, the AuditRequested
consumer), the resolver, the limiter and the audit worker (a loop of the runtime). Nothing is created at import time; tests call
`bootstrap(settings, resolver=fake)`.

Events: AuditRequested is consumed by `handlers/on_audit_requested.py` (it queues the run); AuditStarted,
AuditCompleted and AuditFailed are published by the audit worker, `handlers/run_audits.py` (built in
`handlers/outcomes.py` from the engine's result).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audits.adapters.resolvers import resolver_from_settings
from audits.adapters.uow import AuditsUnitOfWork
from audits.engine import AuditEngineSettings, AuditLimiter, Resolver
from audits.engine.transport import Dialer
from audits.handlers import on_audit_requested
from audits.handlers.run_audits import AuditWorker
from audits.settings import AuditsSettings
from contracts import topics
from servicekit.process.logging import configure_logging
from servicekit.process.runtime import ServiceRuntime
from servicekit.web.auth import ApiKey, load_api_keys

MIGRATIONS = str(Path(__file__).parent / "migrations")
# The audit worker holds a connection only to claim runs (one poll at a time) and to record an outcome (a short
# transaction when an audit ends, never during the audit): one for each; an outcome finishing at the same
# moment as another waits milliseconds for the pool, and its recording retries if it ever waits out the timeout.
AUDIT_WORKER_CONNECTIONS = 2


@dataclass
class AuditsService:
    settings: AuditsSettings
    engine_settings: AuditEngineSettings
    runtime: ServiceRuntime[AuditsUnitOfWork]
    resolver: Resolver
    limiter: AuditLimiter
    worker: AuditWorker
    api_keys: tuple[ApiKey, ...]


def bootstrap(
    settings: AuditsSettings | None = None,
    *,
    resolver: Resolver | None = None,
    dialer: Dialer | None = None,
    engine_settings: AuditEngineSettings | None = None,
    configure_logs: bool = False,
) -> AuditsService:
    settings = settings or AuditsSettings()
    if configure_logs:
        configure_logging(settings.service_name, settings.log_level, json_output=settings.log_json)
    runtime = ServiceRuntime.create(settings, AuditsUnitOfWork, migrations=MIGRATIONS)
    engine_settings = engine_settings or settings.engine_settings()
    resolver = resolver or resolver_from_settings(settings)
    limiter = AuditLimiter(max_total=settings.max_concurrent_audits, max_per_domain=settings.max_audits_per_domain)
    worker = AuditWorker(runtime.uow, settings, engine_settings=engine_settings, resolver=resolver,
                         limiter=limiter, dialer=dialer)
    runtime.add_consumer(topics.AUDIT_REQUESTED, "on_audit_requested", on_audit_requested.handle,
                         max_records=settings.consumer_max_records)
    # Beside the consumer: the worker that runs the claimed audits (it finishes those in flight, each bounded
    # by the budget, before the process ends).
    runtime.add_loop("audit-worker", worker.run, connections=AUDIT_WORKER_CONNECTIONS)
    return AuditsService(settings=settings, engine_settings=engine_settings, runtime=runtime, resolver=resolver,
                         limiter=limiter, worker=worker, api_keys=load_api_keys(settings.api_keys_json))
