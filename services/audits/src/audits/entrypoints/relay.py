"""`python -m audits.entrypoints.relay`: publishes the audits outbox."""

from audits.bootstrap import bootstrap
from servicekit.process.event_loop import run
from servicekit.process.pooling import checked, size_pool
from servicekit.process.runtime import serve_worker


def main() -> None:
    runtime = bootstrap(configure_logs=True).runtime
    size_pool(runtime, "relay")
    run(checked(runtime, serve_worker(runtime, consumers=False, relay=True)), loop=runtime.settings.event_loop)


if __name__ == "__main__":
    main()
