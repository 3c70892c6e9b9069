"""A service process: settings, database, logging, metrics, tracing, errors, tables, migrations, bulk writes, and
the runtime that composes them with the messaging parts into running loops (runtime, worker_health, pooling)."""
