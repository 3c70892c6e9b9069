"""Generates the AsyncAPI 3.0 document of every event from the contracts (topics, payload schemas, who
publishes and who consumes).

    python -m servicekit.asyncapi [-o docs/asyncapi.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope
from contracts.registry import EVENT_MODELS
from contracts.topics import ALL_TOPICS

# Who consumes what (DESIGN §2); publishers come from the topic registry.
CONSUMERS: dict[str, list[str]] = {
    "LeadUpserted": ["writeback", "unibox"],
    "LeadPushed": ["writeback"],
    "LeadRemovedFromCampaign": ["writeback"],
    "AuditRequested": ["audits"],
    "WritebackRequested": ["writeback"],
    "AuditStarted": ["leads"],
    "AuditCompleted": ["leads", "writeback"],
    "AuditFailed": ["leads"],
    "WritebackCompleted": ["leads"],
    "WritebackFailed": ["leads"],
    "EmailActivityReceived": ["leads"],
}


def build_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Envelope": Envelope.model_json_schema(ref_template="#/components/schemas/{model}")}
    for topic in ALL_TOPICS:
        model = EVENT_MODELS[topic.event_type]
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[topic.event_type] = schema
        messages[topic.event_type] = {
            "name": topic.event_type,
            "title": topic.event_type,
            "summary": (model.__doc__ or "").strip().split("\n\n")[0],
            "contentType": "application/json",
            "headers": {"type": "object", "properties": {h: {"type": "string"} for h in
                        ("event_id", "event_type", "event_version", "lead_id", "correlation_id", "causation_id")}},
            "payload": {"allOf": [{"$ref": "#/components/schemas/Envelope"},
                                  {"type": "object", "properties": {
                                      "event_type": {"const": topic.event_type},
                                      "data": {"$ref": f"#/components/schemas/{topic.event_type}"}}}]},
            "bindings": {"kafka": {"key": {"type": "string", "format": "uuid", "description": "lead_id"}}},
        }
        channel_id = topic.name.replace(".", "_").replace("-", "_")
        channels[channel_id] = {
            "address": topic.name,
            "messages": {topic.event_type: {"$ref": f"#/components/messages/{topic.event_type}"}},
            "bindings": {"kafka": {"partitions": topic.partitions, "topicConfiguration": {
                "retention.ms": topic.retention_ms,
                "cleanup.policy": ["compact", "delete"] if topic.compacted else ["delete"]}}},
            "description": f"Dead letters: {topic.dlq}",
        }
        operations[f"{topic.producer}_publishes_{topic.event_type}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{topic.producer} publishes {topic.event_type}",
        }
        for consumer in CONSUMERS.get(topic.event_type, []):
            operations[f"{consumer}_consumes_{topic.event_type}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{consumer} consumes {topic.event_type} (group {consumer}.on_{_snake(topic.event_type)})",
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Outreach platform events", "version": "1.0.0",
                 "description": "Every event the services publish. Key = lead_id; envelope fields as in DESIGN §4."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/asyncapi.json"))
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(build_document(), indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
