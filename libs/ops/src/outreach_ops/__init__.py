"""Operations tooling for the event backbone: describe topics and lag, replay a topic into a consumer group,
list/inspect/redrive dead letters, rebuild a projection. The CLI is `outreach-ops` (`python -m outreach_ops`);
every function behind it is async and importable, so tests and scripts use them directly."""
