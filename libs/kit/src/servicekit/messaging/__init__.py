"""The event backbone: envelopes and their Kafka encoding (events, wire), the unit of work with its inbox and
outbox (uow), the outbox relay, consumers and their groups, dead letters and their depth, retries, the broker and
its client configuration, the membership watchdog, Kafka admin reads, and the `RebuildSpec` a service hands the
ops tooling (libs/ops). Nothing here imports the process shell (`servicekit.process.runtime`) or the web."""
