"""The event contract's documentation, generated from the event classes themselves.

``docs/events.md`` and ``docs/schemas/*.json`` are written by `write_docs` (the
``lead docs`` command) and checked by `check_docs` in the unit tests, so what
consumers read can never drift from what the relay publishes. Everything here
must be deterministic: no timestamps, sorted keys, one fixed layout.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from events import free_text
from events.base import DomainEvent
from events.envelope import CONTENT_TYPE, SEQUENCE_DIGITS
from events.registry import EVENT_CLASSES
from events.topics import EVENTS, TOPICS
from events.tracing import TRACEPARENT

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DOCS_DIR = Path("docs")
CATALOG_FILE = DOCS_DIR / "events.md"
SEALED_FIELDS_FILE = DOCS_DIR / "sealed-fields.md"
SCHEMAS_DIR = DOCS_DIR / "schemas"

# What `DomainEvent.payload` leaves out of the model's fields (store bookkeeping)
# and what it puts in instead; the tests validate real payloads, so drift fails.
EXCLUDED_FIELDS = (
    "originator_topic",
    "originator_id",
    "originator_version",
    "timestamp",
    "traceparent",  # a CloudEvent attribute, not data
)
ADDED_FIELDS: dict[str, dict[str, Any]] = {
    "aggregate_id": {
        "type": "string",
        "format": "uuid",
        "title": "Aggregate Id",
        "description": "The aggregate (for example the referral) the event belongs to.",
    },
    "aggregate_version": {
        "type": "integer",
        "minimum": 1,
        "title": "Aggregate Version",
        "description": "The event's position in its aggregate's history, from 1; "
        "with `aggregate_id` it identifies the event.",
    },
    "recorded_at": {
        "type": "string",
        "format": "date-time",
        "title": "Recorded At",
        "description": "When the event was recorded in the event store.",
    },
}


def schema_id(cls: type[DomainEvent]) -> str:
    """The payload schema's `$id`: fit for a CloudEvents `dataschema`, stable across hosts."""
    return f"urn:lead:schema:{cls.cloudevent_type()}"


def schema_file(cls: type[DomainEvent]) -> Path:
    """Where the payload schema is written, relative to the project root."""
    return SCHEMAS_DIR / f"{cls.cloudevent_type()}.json"


def _docstring(cls: type[Any]) -> str:
    """The class's own docstring (not an inherited one), cleaned, or ""."""
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def payload_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """JSON Schema of a CloudEvent's `data` for `cls`: the model less bookkeeping, plus
    the aggregate fields `DomainEvent.payload` adds."""
    model = cls.model_json_schema(mode="serialization")
    properties: dict[str, Any] = {
        name: value for name, value in model["properties"].items() if name not in EXCLUDED_FIELDS
    }
    properties.update(copy.deepcopy(ADDED_FIELDS))
    required = [name for name in model.get("required", []) if name not in EXCLUDED_FIELDS]
    required += [name for name in ADDED_FIELDS if name not in required]
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(cls),
        "title": cls.__name__,
        "type": "object",
        "properties": properties,
        "required": required,
    }
    if "additionalProperties" in model:
        schema["additionalProperties"] = model["additionalProperties"]
    if description := _docstring(cls):
        schema["description"] = description
    if "$defs" in model:
        schema["$defs"] = model["$defs"]
    return schema


def cloudevent_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """JSON Schema of the whole structured-mode CloudEvent for `cls`, as `envelope` builds it.

    The payload schema is inlined as `data` without its own `$id`, and its `$defs`
    are hoisted to the root, so its ``#/$defs/...`` references still resolve.
    """
    data = payload_schema(cls)
    defs = data.pop("$defs", None)
    del data["$schema"], data["$id"]
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{schema_id(cls)}:cloudevent",
        "title": f"{cls.__name__} CloudEvent",
        "description": f"A {cls.cloudevent_type()} event as a CloudEvents 1.0 "
        f"structured-mode JSON message ({CONTENT_TYPE}).",
        "type": "object",
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1},
            "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
            "type": {"const": cls.cloudevent_type()},
            "subject": {"type": "string", "format": "uuid"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "sequence": {"type": "string", "pattern": rf"^\d{{{SEQUENCE_DIGITS}}}$"},
            "traceparent": {
                "type": "string",
                "pattern": TRACEPARENT,
                "description": "The CloudEvents distributed-tracing extension: the W3C "
                "traceparent of the command that recorded the event (absent for events "
                "recorded before it was kept, and for those no request caused).",
            },
            "data": data,
        },
        # `subject` is left out when the event concerns no person; other CloudEvents
        # extensions may be added, so further attributes are allowed.
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "datacontenttype",
            "sequence",
            "data",
        ],
    }
    if defs is not None:
        schema["$defs"] = defs
    return schema


def _json_type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short human name for a property's JSON type, e.g. "string (uuid)"."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        target = defs.get(name, {})
        return f"{target.get('type', 'object')} (`{name}`)"
    if "anyOf" in prop:
        return " or ".join(_json_type(option, defs) for option in prop["anyOf"])
    if "const" in prop:
        return f"const `{json.dumps(prop['const'])}`"
    kind = str(prop.get("type", "any"))
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"array of {_json_type(prop['items'], defs)}"
    if "format" in prop:
        return f"{kind} ({prop['format']})"
    return kind


def _enum_values(prop: dict[str, Any], defs: dict[str, Any]) -> list[Any]:
    """The allowed values of an enum property (through a `$ref` or an `anyOf`), if any."""
    if "$ref" in prop:
        prop = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
    if "anyOf" in prop:
        return [value for option in prop["anyOf"] for value in _enum_values(option, defs)]
    return list(prop.get("enum", []))


def _description(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """The field's description, else its type's, plus the allowed values of an enum."""
    text = str(prop.get("description", ""))
    if not text and "$ref" in prop:
        text = str(defs.get(prop["$ref"].rsplit("/", 1)[-1], {}).get("description", ""))
    if values := _enum_values(prop, defs):
        allowed = ", ".join(f"`{value}`" for value in values)
        text = f"{text} One of {allowed}." if text else f"One of {allowed}."
    return _cell(text)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _section(cls: type[DomainEvent]) -> list[str]:
    """One event type's part of the catalog."""
    schema = payload_schema(cls)
    defs: dict[str, Any] = schema.get("$defs", {})
    required = set(schema["required"])
    lines = [f"## `{cls.cloudevent_type()}`", ""]
    if doc := _docstring(cls):
        lines += [doc, ""]
    link = schema_file(cls).relative_to(DOCS_DIR).as_posix()
    lines += [
        f"- Event: `{cls.event_type}` (`{cls.__module__}.{cls.__name__}`)",
        f"- Current version: {cls.class_version}",
        f"- Payload schema: [{link}]({link})",
        "",
        "| Field | JSON type | Required | Description |",
        "| --- | --- | --- | --- |",
    ]
    for name, prop in schema["properties"].items():
        needed = "yes" if name in required else "no"
        lines.append(
            f"| `{name}` | {_json_type(prop, defs)} | {needed} | {_description(prop, defs)} |"
        )
    lines.append("")
    return lines


def _events_key() -> str:
    """What the events topic is keyed by, as `events.topics` declares it."""
    return next(spec.key for spec in TOPICS if spec.name == EVENTS)


def render_catalog(classes: Iterable[type[DomainEvent]] = EVENT_CLASSES) -> str:
    """The Markdown of ``docs/events.md``."""
    ordered = sorted(classes, key=lambda cls: cls.event_type)
    lines = [
        "# LEAD event catalog",
        "",
        "<!-- Generated from the event classes by `lead docs`; do not edit by hand. -->",
        "",
        "Every domain event is published as a [CloudEvents 1.0](https://cloudevents.io/) "
        f"structured-mode JSON message (`{CONTENT_TYPE}`) on the Kafka topic `{EVENTS}`, "
        f"keyed by {_events_key()} so that everything about one person stays in order. "
        "The CloudEvents `type` is `org.lead.<event>.v<version>`; `id` is derived from the "
        "aggregate id and version, so a republished event keeps its id; `subject` is the "
        "person id; `time` is when the event happened in the world; `sequence` is the "
        f"event store's global position, zero-padded to {SEQUENCE_DIGITS} digits so that "
        "text order is store order. The payload below is the message's `data`.",
        "",
        "Every message on every topic (`docs/asyncapi.yaml`) carries the Kafka header "
        f"`content-type: {CONTENT_TYPE}`, a replayed dead letter too: one JSON document per "
        "message, which the Kafka binding of every CloudEvents SDK reads by that header "
        "(only a projection topic's tombstone, which has no value, is a binary-mode "
        "CloudEvent).",
        "",
    ]
    if ordered:
        lines += ["| CloudEvents type | Event class |", "| --- | --- |"]
        lines += [f"| `{cls.cloudevent_type()}` | `{cls.__name__}` |" for cls in ordered]
        lines.append("")
    for cls in ordered:
        lines += _section(cls)
    return "\n".join(lines).rstrip("\n") + "\n"


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def generated_files(classes: Iterable[type[DomainEvent]] = EVENT_CLASSES) -> dict[Path, str]:
    """Every generated file, relative to the project root, with its content."""
    classes = tuple(classes)
    files = {CATALOG_FILE: render_catalog(classes), SEALED_FIELDS_FILE: free_text.render(classes)}
    files.update({schema_file(cls): _dump(payload_schema(cls)) for cls in classes})
    return dict(sorted(files.items()))


def _stale(root: Path, expected: Iterable[Path]) -> list[Path]:
    """Schema files (relative to `root`) that no current event type generates."""
    folder = root / SCHEMAS_DIR
    if not folder.is_dir():
        return []
    wanted = set(expected)
    return sorted(
        path.relative_to(root)
        for path in folder.glob("*.json")
        if path.relative_to(root) not in wanted
    )


def write_docs(root: Path) -> list[Path]:
    """Write the catalog and schemas under `root` and drop schemas of removed types.

    Returns the paths written.
    """
    files = generated_files()
    for stale in _stale(root, files):
        (root / stale).unlink()
    written = []
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def check_docs(root: Path) -> list[str]:
    """Relative paths of generated files under `root` that are missing, differ, or are
    stale; empty when the committed docs are current."""
    files = generated_files()
    problems = [
        relative
        for relative, content in files.items()
        if not (root / relative).is_file()
        or (root / relative).read_bytes() != content.encode("utf-8")
    ]
    problems += _stale(root, files)
    return sorted(path.as_posix() for path in problems)
