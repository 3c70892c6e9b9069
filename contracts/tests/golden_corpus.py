"""Reading the golden corpus (contracts/tests/golden/, written by golden_generate.py) and the judgements the golden
test makes about it. Nothing here generates a fixture: the test reads the frozen files only, so a contract change
is judged against what producers really emitted, not against what today's code would emit."""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from contracts.registry import EVENT_MODELS

GOLDEN_DIR: Final = Path(__file__).resolve().parent / "golden"
SCHEMA_DIR: Final = Path(__file__).resolve().parents[1] / "schemas"
NAME: Final = re.compile(r"^(?P<event_type>[A-Z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)\."
                         r"(?P<variant>[a-z0-9]+(?:-[a-z0-9]+)*)\.json$")
RECORD_KEYS: Final = frozenset({"topic", "key", "headers", "value"})


@dataclass(frozen=True)
class GoldenRecord:
    """One frozen Kafka record, named `<EventType>.v<N>.<variant>.json`."""

    path: Path
    event_type: str
    version: int
    variant: str
    topic: str
    key: str | None
    headers: dict[str, str]
    value: str

    @property
    def value_bytes(self) -> bytes:
        """The record value as a consumer receives it."""
        return self.value.encode()

    @property
    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """The headers as aiokafka hands them to a consumer."""
        return [(name, text.encode()) for name, text in self.headers.items()]

    @property
    def envelope_json(self) -> dict[str, Any]:
        parsed = json.loads(self.value)
        assert isinstance(parsed, dict)
        return parsed


def fixture_paths() -> list[Path]:
    return sorted(GOLDEN_DIR.glob("*.json"))


def load(path: Path) -> GoldenRecord:
    """The record in `path`; ValueError when its name or shape is not the corpus's."""
    match = NAME.match(path.name)
    if match is None:
        raise ValueError(f"{path.name}: not named <EventType>.v<N>.<variant>.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or set(raw) != RECORD_KEYS:
        raise ValueError(f"{path.name}: expected exactly the keys {sorted(RECORD_KEYS)}")
    headers = raw["headers"]
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError(f"{path.name}: headers must map names to strings")
    if not isinstance(raw["topic"], str) or not isinstance(raw["value"], str) or not isinstance(raw["key"], str | None):
        raise ValueError(f"{path.name}: topic and value must be strings, key a string or null")
    return GoldenRecord(path=path, event_type=match["event_type"], version=int(match["version"]),
                        variant=match["variant"], topic=raw["topic"], key=raw["key"], headers=headers,
                        value=raw["value"])


def load_all() -> list[GoldenRecord]:
    return [load(path) for path in fixture_paths()]


# --- which versions must have fixtures ----------------------------------------------------------------------

def versions_that_exist() -> dict[str, set[int]]:
    """Event type → every version ever emitted: 1 up to the registry's current `EVENT_VERSION`, plus any version
    a schema snapshot (contracts/schemas/<Type>.v<N>.json) records."""
    versions = {name: set(range(1, model.EVENT_VERSION + 1)) for name, model in EVENT_MODELS.items()}
    for snapshot in SCHEMA_DIR.glob("*.v*.json"):
        event_type, _, version = snapshot.stem.rpartition(".v")
        if event_type != "Envelope" and version.isdigit():
            versions.setdefault(event_type, set()).add(int(version))
    return versions


# --- round trips ----------------------------------------------------------------------------------------------

def lost_values(sent: Any, received: Any, path: str = "$") -> list[str]:
    """Where `received` (a decoded model dumped again) no longer holds what `sent` (the producer's JSON) held:
    a dropped key, a changed value or a changed JSON type. Keys only in `received` are fine: fields added since
    the record was written, filled with their defaults."""
    if isinstance(sent, dict):
        if not isinstance(received, dict):
            return [f"{path}: an object became {received!r}"]
        problems: list[str] = []
        for key, value in sent.items():
            if key not in received:
                problems.append(f"{path}.{key}: dropped by the decoder")
            else:
                problems += lost_values(value, received[key], f"{path}.{key}")
        return problems
    if isinstance(sent, list):
        if not isinstance(received, list) or len(received) != len(sent):
            return [f"{path}: {sent!r} became {received!r}"]
        return [problem for i, (s, r) in enumerate(zip(sent, received, strict=True))
                for problem in lost_values(s, r, f"{path}[{i}]")]
    if type(sent) is not type(received) or sent != received:
        return [f"{path}: {sent!r} became {received!r}"]
    return []


# --- optional-field coverage ------------------------------------------------------------------------------------

def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation holds directly or in a union or list (`X`, `X | None`, `list[X]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            yield from _nested_models(arg)


def _admits_none(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return annotation is type(None) or ((origin is typing.Union or origin is types.UnionType)
                                        and type(None) in typing.get_args(annotation))


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells `false` from `0` (Python's `False == 0` does not)."""
    return not lost_values(a, b) and not lost_values(b, a)


def _unset_values(field: FieldInfo) -> list[Any]:
    """The JSON values that leave an optional field unfilled: null, and its default as the producer dumps it."""
    unset: list[Any] = [None]
    if not field.is_required():
        default = field.get_default(call_default_factory=True)
        annotation: Any = field.annotation
        unset.append(TypeAdapter(annotation).dump_python(default, mode="json"))
    return unset


def unfilled_optional_fields(model: type[BaseModel], values: Iterable[Mapping[str, Any]], path: str) -> list[str]:
    """The optional fields of `model` (nullable or defaulted; nested models included) that none of `values` (its
    JSON form in the fixtures) fills with something other than null or the default."""
    seen = [v for v in values if isinstance(v, Mapping)]
    problems: list[str] = []
    for name, field in model.model_fields.items():
        present = [v[name] for v in seen if name in v]
        if _admits_none(field.annotation) or not field.is_required():
            unset = _unset_values(field)
            if all(any(_same(value, u) for u in unset) for value in present):
                problems.append(f"{path}.{name}")
        for nested in _nested_models(field.annotation):
            inner = [v for v in present if isinstance(v, Mapping)]
            inner += [item for v in present if isinstance(v, list) for item in v if isinstance(item, Mapping)]
            problems += unfilled_optional_fields(nested, inner, f"{path}.{name}")
    return problems
