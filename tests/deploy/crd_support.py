"""Validation of custom resources against the committed CRDs (deploy/k8s/schemas), as the API server would do it.

- The served version's `openAPIV3Schema` becomes a JSON Schema that refuses unknown fields wherever the CRD
  lists properties and does not say `x-kubernetes-preserve-unknown-fields` (what `kubectl apply`'s default
  strict field validation does; without it the API server would silently prune a misspelt field).
- `x-kubernetes-int-or-string` and `nullable` are translated; `format` is not checked (as jsonschema's default).
- CEL rules (`x-kubernetes-validations`) cannot run here: every rule that applies to a field present in the
  object must be one of CEL_RULES, evaluated by hand below; any other rule fails the validation, so a new rule
  on a field the manifests use is noticed rather than skipped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml
from deploy_support import K8S

SCHEMAS = K8S / "schemas"
CRD_DIRS = ("strimzi-1.2.0", "keda-2.20.2", "prometheus-operator-0.93.0")


class CrdValidationError(Exception):
    pass


_VALIDATORS: dict[tuple[str, str, str], Any] = {}  # (group, kind, version) -> a compiled validator


@dataclass(frozen=True)
class Crd:
    group: str
    kind: str
    served: dict[str, dict[str, Any]]  # version -> openAPIV3Schema
    path: Path


def load_crds() -> dict[tuple[str, str], Crd]:
    """{(group, kind): Crd} for every committed CRD file."""
    found: dict[tuple[str, str], Crd] = {}
    for directory in CRD_DIRS:
        for path in sorted((SCHEMAS / directory).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                served = {v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("served")}
                found[(spec["group"], spec["names"]["kind"])] = Crd(spec["group"], spec["names"]["kind"], served, path)
    return found


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema equivalent of a structural CRD schema, closed where the CRD is closed."""
    out = copy.deepcopy(schema)

    def walk(node: dict[str, Any]) -> None:
        if node.pop("x-kubernetes-int-or-string", False):
            node.pop("type", None)
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        preserve = node.pop("x-kubernetes-preserve-unknown-fields", False)
        if "properties" in node and "additionalProperties" not in node and not preserve:
            node["additionalProperties"] = False
        for child in node.get("properties", {}).values():
            walk(child)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key])
        for key in ("anyOf", "allOf", "oneOf"):
            for child in node.get(key, []):
                walk(child)

    walk(out)
    # apiVersion, kind and metadata are the API server's (ObjectMeta); the CRD leaves metadata open.
    return out


def _has(obj: dict[str, Any], key: str) -> bool:
    return key in obj


# CEL rule -> Python predicate on the value the rule's schema node applies to (`self`).
CEL_RULES: dict[str, Callable[[Any], bool]] = {
    # KafkaUser spec.authentication (Strimzi 1.2.0)
    "self.type == 'tls' || (!has(self.validityDays) && !has(self.renewalDays))":
        lambda s: s["type"] == "tls" or (not _has(s, "validityDays") and not _has(s, "renewalDays")),
    "self.type != 'tls' || (has(self.renewalDays) == has(self.validityDays))":
        lambda s: s["type"] != "tls" or (_has(s, "renewalDays") == _has(s, "validityDays")),
    "self.type != 'tls' || !has(self.renewalDays) || !has(self.validityDays) || self.renewalDays < self.validityDays":
        lambda s: (s["type"] != "tls" or not _has(s, "renewalDays") or not _has(s, "validityDays")
                   or s["renewalDays"] < s["validityDays"]),
    # ScaledObject spec (KEDA 2.20.2)
    "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)":
        lambda s: not _has(s, "minReplicaCount") or s["minReplicaCount"] <= s.get("maxReplicaCount", 100),
}


def cel_rules(schema: dict[str, Any], value: Any, path: str = "") -> Iterator[tuple[str, str, str, Any]]:
    """(path, rule, message, value) for every CEL rule whose schema node has a value in the object."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, " ".join(rule["rule"].split()), rule.get("message", ""), value
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from cel_rules(sub, child, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, child in enumerate(value):
            yield from cel_rules(schema["items"], child, f"{path}[{i}]")


def validate(doc: dict[str, Any], crds: dict[tuple[str, str], Crd]) -> None:
    """Raises CrdValidationError (or jsonschema.ValidationError) unless the object is valid for its CRD."""
    group, _, version = doc["apiVersion"].partition("/")
    crd = crds.get((group, doc["kind"]))
    if crd is None:
        raise CrdValidationError(f"no committed CRD for {doc['apiVersion']} {doc['kind']}")
    if version not in crd.served:
        raise CrdValidationError(f"{doc['kind']} {version!r} is not served by {crd.path.parent.name} "
                                 f"(served: {sorted(crd.served)})")
    schema = crd.served[version]
    key = (group, doc["kind"], version)
    if key not in _VALIDATORS:
        closed = strict_schema(schema)
        _VALIDATORS[key] = jsonschema.validators.validator_for(closed)(closed)
    error = jsonschema.exceptions.best_match(_VALIDATORS[key].iter_errors(doc))
    if error is not None:
        raise error
    for path, rule, message, value in cel_rules(schema, doc):
        check = CEL_RULES.get(rule)
        if check is None:
            raise CrdValidationError(f"{doc['kind']} {path}: CEL rule not evaluated by these tests: {rule}")
        if not check(value):
            raise CrdValidationError(f"{doc['kind']} {path}: {message or rule}")
