"""Who consumes what, read from the services' own registrations: every `runtime.add_consumer(TOPIC, "handler",
...)` call in `services/*/src/*/bootstrap.py` is one consumer group `<service>.<handler>`.

One source for the facts that the Kubernetes manifests (KEDA triggers, Kafka ACLs), the AsyncAPI document and
the docs state about consumers, so none of them keeps its own table. It reads the bootstraps' source (ops
tooling runs in a checkout) rather than importing them: building a service's runtime needs its settings and a
database, and listing consumers should need neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from contracts import topics as registry

_ADD_CONSUMER = re.compile(r"add_consumer\(\s*(?:topics\.)?([A-Z][A-Z0-9_]*)\s*,\s*\"([a-z][a-z0-9_]*)\"")


@dataclass(frozen=True)
class ConsumerGroup:
    service: str
    handler: str
    topic: str
    partitions: int
    event_type: str

    @property
    def group(self) -> str:
        """The group id without the deployment's topic prefix (`KAFKA_TOPIC_PREFIX` is prepended at run time)."""
        return f"{self.service}.{self.handler}"


def consumer_groups(root: Path) -> dict[str, list[ConsumerGroup]]:
    """Groups per service, in bootstrap order; `root` is the repository's root."""
    found: dict[str, list[ConsumerGroup]] = {}
    for bootstrap in sorted(root.glob("services/*/src/*/bootstrap.py")):
        service = bootstrap.parent.name
        for constant, handler in _ADD_CONSUMER.findall(bootstrap.read_text()):
            spec = getattr(registry, constant, None)
            if not isinstance(spec, registry.TopicSpec):
                raise SystemExit(f"{bootstrap}: add_consumer names {constant}, which is not a registry topic")
            found.setdefault(service, []).append(
                ConsumerGroup(service, handler, spec.name, spec.partitions, spec.event_type))
    return found
