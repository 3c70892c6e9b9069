"""Generates the AsyncAPI 3.0 document of every event from the contracts (topics, payload schemas, headers, servers,
who publishes, and the consumer groups the services register).

    python -m outreach_ops.asyncapi [-o docs/asyncapi.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from contracts.envelope import (
    CLOUDEVENTS_SOURCE_PREFIX,
    CLOUDEVENTS_SPECVERSION,
    CLOUDEVENTS_TYPE_PREFIX,
    HEADER_CAUSATION_ID,
    HEADER_CE_ID,
    HEADER_CE_SOURCE,
    HEADER_CE_SPECVERSION,
    HEADER_CE_SUBJECT,
    HEADER_CE_TIME,
    HEADER_CE_TYPE,
    HEADER_CE_WORKSPACE,
    HEADER_CONTENT_TYPE,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_EVENT_VERSION,
    HEADER_LEAD_ID,
    HEADER_TRACEPARENT,
    Envelope,
)
from contracts.registry import EVENT_MODELS
from contracts.topics import ALL_TOPICS
from outreach_ops.consumer_groups import ConsumerGroup, consumer_groups

_UUID = {"type": "string", "format": "uuid"}
_KAFKA_BINDING = {"bindingVersion": "0.5.0"}


def _headers(producer: str, event_type: str) -> dict[str, Any]:
    """The record headers of one event type: the envelope's ids, the W3C trace context, and the CloudEvents
    attributes (Kafka protocol binding, binary content mode). Every value is a UTF-8 string."""
    properties: dict[str, Any] = {
        HEADER_EVENT_ID: {**_UUID, "description": "= envelope event_id; the idempotency key"},
        HEADER_EVENT_TYPE: {"const": event_type},
        HEADER_EVENT_VERSION: {"type": "string", "pattern": "^[1-9][0-9]*$",
                               "description": "= envelope event_version: the contract's major version (the "
                                              "topic's v<major>); additive changes keep it"},
        HEADER_LEAD_ID: {**_UUID, "description": "present when the event is about a lead"},
        HEADER_CORRELATION_ID: _UUID,
        HEADER_CAUSATION_ID: _UUID,
        HEADER_TRACEPARENT: {"type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                             "description": "W3C trace context of the request or event that caused this one"},
        HEADER_CONTENT_TYPE: {"const": "application/json"},
        HEADER_CE_SPECVERSION: {"const": CLOUDEVENTS_SPECVERSION},
        HEADER_CE_ID: {**_UUID, "description": "= event_id"},
        HEADER_CE_SOURCE: {"const": CLOUDEVENTS_SOURCE_PREFIX + producer},
        HEADER_CE_TYPE: {"const": CLOUDEVENTS_TYPE_PREFIX + event_type},
        HEADER_CE_TIME: {"type": "string", "format": "date-time", "description": "= occurred_at, UTC"},
        HEADER_CE_SUBJECT: {**_UUID, "description": "= lead_id, when present"},
        HEADER_CE_WORKSPACE: {"type": "string", "description": "extension attribute = workspace_id, when set"},
    }
    return {"type": "object", "properties": properties,
            "required": [HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_EVENT_VERSION, HEADER_CONTENT_TYPE,
                         HEADER_CE_SPECVERSION, HEADER_CE_ID, HEADER_CE_SOURCE, HEADER_CE_TYPE, HEADER_CE_TIME]}


SERVERS: dict[str, Any] = {
    "local": {
        "host": "127.0.0.1:19092", "protocol": "kafka", "protocolVersion": "4.0",
        "description": "The development broker of `make run` and `make infra-up`: plaintext, loopback only.",
    },
    "production": {
        "host": "{bootstrap}", "protocol": "kafka-secure", "protocolVersion": "4.0",
        "description": "The Strimzi cluster's TLS listener. Each team authenticates as its own KafkaUser "
                       "(SCRAM-SHA-512, or a client certificate on the mTLS listener); ACLs allow Read on the "
                       "topics and on the team's group prefix. docs/KAFKA-SECURITY.md says how to get a user.",
        "variables": {"bootstrap": {"default": "outreach-kafka-bootstrap.outreach.svc:9093",
                                    "description": "<cluster>-kafka-bootstrap.<namespace>.svc:<port>"}},
        "security": [{"$ref": "#/components/securitySchemes/scram"},
                     {"$ref": "#/components/securitySchemes/mtls"}],
    },
}
SECURITY_SCHEMES: dict[str, Any] = {
    "scram": {"type": "scramSha512", "description": "SASL/SCRAM-SHA-512 over TLS (security.protocol=SASL_SSL)"},
    "mtls": {"type": "X509", "description": "TLS client certificate issued by the cluster's clients CA"},
}


def build_document(groups: dict[str, list[ConsumerGroup]]) -> dict[str, Any]:
    """The document for the registry's topics; `groups`: `outreach_ops.consumer_groups.consumer_groups(root)`."""
    consumers: dict[str, list[ConsumerGroup]] = {}
    for service_groups in groups.values():
        for group in service_groups:
            consumers.setdefault(group.topic, []).append(group)
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
            "headers": _headers(topic.producer, topic.event_type),
            "payload": {"allOf": [{"$ref": "#/components/schemas/Envelope"},
                                  {"type": "object", "properties": {
                                      "event_type": {"const": topic.event_type},
                                      "data": {"$ref": f"#/components/schemas/{topic.event_type}"}}}]},
            "bindings": {"kafka": {**_KAFKA_BINDING,
                                   "key": {"type": "string", "format": "uuid", "description": "lead_id"}}},
        }
        channel_id = topic.name.replace(".", "_").replace("-", "_")
        channels[channel_id] = {
            "address": topic.name,
            "messages": {topic.event_type: {"$ref": f"#/components/messages/{topic.event_type}"}},
            "bindings": {"kafka": {**_KAFKA_BINDING, "topic": topic.name, "partitions": topic.partitions,
                                   "topicConfiguration": {
                                       "retention.ms": topic.retention_ms,
                                       "cleanup.policy": ["compact"] if topic.compacted else ["delete"]}}},
            "description": f"Dead letters: {topic.dlq}",
        }
        operations[f"{topic.producer}_publishes_{topic.event_type}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{topic.producer} publishes {topic.event_type}",
            "bindings": {"kafka": {**_KAFKA_BINDING, "clientId": {"type": "string", "const": f"{topic.producer}-relay"}}},
        }
        for group in consumers.get(topic.name, []):
            operations[f"{group.service}_{group.handler}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{group.service} consumes {topic.event_type} in group {group.group}",
                "bindings": {"kafka": {**_KAFKA_BINDING, "groupId": {"type": "string", "const": group.group}}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Outreach platform events", "version": "1.0.0",
                 "description": "Every event the services publish. Key = lead_id. The value is the JSON envelope "
                                "(schema Envelope); the headers carry its ids, the W3C traceparent and the same "
                                "facts as CloudEvents 1.0 attributes (Kafka binding, binary content mode). Group "
                                "ids and topic names get the deployment's KAFKA_TOPIC_PREFIX in front."},
        "defaultContentType": "application/json",
        "servers": SERVERS,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/asyncapi.json"))
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository (services/*/src/*/bootstrap.py)")
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(build_document(consumer_groups(args.root)), indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
