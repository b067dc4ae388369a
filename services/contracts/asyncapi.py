"""The AsyncAPI 3.0 document of the bus: every topic, what goes on it and who sends it.

``docs/asyncapi.yaml`` is written by `services.contracts.catalog.write_docs` and checked by
`services.contracts.catalog.check_docs`, like the event catalog, so the contract consumers (and
the people who grant them access) read cannot drift from the code. Everything is
derived from what the code publishes where the code says it: the topics and their
settings from `events.topics.TOPICS`, the events from `events.registry`, the
prosecution feed's types and whitelist from `consumers.prosecution`. Only the
records that have no model of their own (disclosures, dead letters, projection row
changes) are described by hand here, and the unit tests validate real ones against
them.

Payload schemas live under ``components.schemas``, keyed by the CloudEvents type
where there is one, and every message refers to its schema with a ``$ref`` into this
document. The schemas are the catalog's JSON Schemas made components: without their
own ``$schema``/``$id`` (a component is not a standalone resource) and with their
``#/$defs/...`` references rebased onto their place in the document, so that
AsyncAPI tools, which resolve references against the document, find them. They use
no keyword that JSON Schema draft 07 (which AsyncAPI schemas extend) lacks.

Output must be deterministic: no timestamps, sorted keys, fixed order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from consumers.deadletter import DEADLETTER_TYPE
from consumers.projector import ROW_CHANGED, ROW_DELETED
from consumers.prosecution import LEGAL, NOTICE, PROGRAM, RETURNED, public_data
from events.base import DomainEvent, Role
from events.consent import InformationKind
from events.envelope import CONTENT_TYPE, CONTENT_TYPE_HEADER
from events.registry import EVENT_CLASSES
from events.topics import AUDIT, DEADLETTER, EVENTS, PROSECUTION, TOPICS, TopicSpec
from events.tracing import TRACEPARENT
from infra.audit.history import CHECKPOINT_TYPE
from services.contracts.catalog import (
    DOCS_DIR,
    cloudevent_schema,
    payload_schema,
    schema_file,
    schema_id,
)

ASYNCAPI_FILE = DOCS_DIR / "asyncapi.yaml"
ASYNCAPI_VERSION = "3.0.0"
# The package version (pyproject.toml); a unit test keeps the two equal.
API_VERSION = "0.1.0"
# The broker `lead infra up` starts (`Settings.kafka_port`); a unit test keeps them equal.
LOCAL_KAFKA = "127.0.0.1:59092"
KAFKA_BINDING_VERSION = "0.5.0"
JSON = "application/json"

PROSECUTION_CLASSES: tuple[type[DomainEvent], ...] = (*LEGAL, *PROGRAM, *RETURNED)
PROJECTION_TOPIC = re.compile(r"^lead\.projections\.(?P<name>[A-Za-z0-9_-]+)\.v1$")
ROW_OPS = ("upsert", "update", "delete")

DEADLETTER_SCHEMA = "DeadLetterRecord"
ROW_CHANGE_SCHEMA = "ProjectionRowChange"
DISCLOSURE_OUTCOMES = ("recorded", "withheld", "permitted")
AUTHENTICATION_OUTCOMES = ("failed", "throttled")

INFO_DESCRIPTION = f"""\
The Kafka topics of a LEAD site's coordination backend: what each holds, who publishes \
it and in what form.

Every message on every topic is a [CloudEvents 1.0](https://cloudevents.io/) \
structured-mode JSON message sent with the Kafka header `{CONTENT_TYPE_HEADER}: \
{CONTENT_TYPE}`, dead letters and their replays included: one JSON document per \
message, which the Kafka protocol binding of every CloudEvents SDK (the Java SDK's \
`CloudEventDeserializer` among them) reads as it is, by that header. The one exception \
is a projection topic's tombstone (a deleted row), which has no value to hold the \
event: it is a binary-mode CloudEvent (`ce_` headers, `{CONTENT_TYPE_HEADER}: {JSON}`, \
no data). `id` identifies the event (a republished event keeps it, so consumers \
deduplicate by it), `source` names the site, `type` names the event and its version, \
`subject` is the person id (other topics say what theirs is) and `time` is when it \
happened. Messages about one person share that person's key, so they stay in order on \
one partition. Delivery is at least once: a crash may publish a message twice, so \
every consumer must be idempotent.

**Security boundary.** Topic layout is the security boundary. A prosecutor's case \
system is granted read access to `{PROSECUTION}` only: never to `{EVENTS}`, which holds \
every domain event (contact notes, goals, health, income and free-text reasons \
included), nor to any other topic. `{PROSECUTION}` carries only legal and \
program-status events of people whose consent covers prosecutors at the moment of \
publishing, with their data reduced to a whitelist, and every disclosure made or \
withheld is recorded on `{AUDIT}`.

Partition and replica counts are deployment settings (`LEAD_TOPIC_PARTITIONS`, \
`LEAD_TOPIC_REPLICATION_FACTOR`), not part of this contract; the topic configuration \
given for each channel is. The JSON Schema of each event type's `data` is also \
published on its own under `docs/schemas/`, and `docs/events.md` describes every field.

Generated from the code by `lead docs`; do not edit by hand."""


@dataclass(frozen=True)
class _Channel:
    """What the document says about one topic besides its `TopicSpec`."""

    channel: dict[str, Any]
    operation_id: str
    operation: dict[str, Any]
    messages: dict[str, dict[str, Any]]
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)


def _token(name: str) -> str:
    """`name` escaped as a JSON Pointer token (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")


def schema_ref(name: str) -> dict[str, str]:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{_token(name)}"}


def _rebase(node: Any, base: str) -> Any:
    """`node` with every local ``#/...`` reference made relative to `base` instead."""
    if isinstance(node, dict):
        return {
            key: (
                base + value[1:]
                if key == "$ref" and isinstance(value, str) and value.startswith("#/")
                else _rebase(value, base)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebase(item, base) for item in node]
    return node


def _refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` value in `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _prune_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without the `$defs` nothing reaches (the ones a whitelist left behind)."""
    defs: dict[str, Any] = schema.pop("$defs", {})
    reached: set[str] = set()
    pending = [ref.rsplit("/", 1)[-1] for ref in _refs(schema) if ref.startswith("#/$defs/")]
    while pending:
        name = pending.pop()
        if name in reached or name not in defs:
            continue
        reached.add(name)
        pending += [ref.rsplit("/", 1)[-1] for ref in _refs(defs[name])]
    if reached:
        schema["$defs"] = {name: value for name, value in defs.items() if name in reached}
    return schema


def component_schema(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """A standalone JSON Schema made the component `name`: see the module docstring."""
    body = {key: value for key, value in schema.items() if key not in ("$schema", "$id")}
    rebased: dict[str, Any] = _rebase(body, f"#/components/schemas/{_token(name)}")
    return rebased


def _key_binding(spec: TopicSpec, note: str = "") -> dict[str, Any]:
    """The Kafka message binding: the key, as `TopicSpec.key` names it."""
    key: dict[str, Any] = {"type": "string", "description": f"The {spec.key}. {note}".strip()}
    if spec.key.endswith(" id"):
        key["format"] = "uuid"  # every id the backend keys by is a UUID
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}}


def _topic_configuration(config: dict[str, str]) -> dict[str, Any]:
    """`TopicSpec.config` as the Kafka binding spells it: numbers as integers and
    `cleanup.policy` as a list. A setting the binding cannot express fails loudly."""
    out: dict[str, Any] = {}
    for name, value in sorted(config.items()):
        if name == "cleanup.policy":
            out[name] = [policy.strip() for policy in value.split(",")]
        elif name in (
            "retention.ms",
            "retention.bytes",
            "delete.retention.ms",
            "max.message.bytes",
        ):
            out[name] = int(value)
        else:
            raise ValueError(f"the AsyncAPI Kafka binding has no topic setting {name!r}")
    return out


def _summary(text: str) -> str:
    """The first paragraph of a docstring, on one line."""
    return " ".join(text.split("\n\n", 1)[0].split())


def _message(
    *,
    name: str,
    title: str,
    summary: str,
    schema: str,
    bindings: dict[str, Any],
    content_type: str = CONTENT_TYPE,
    description: str = "",
) -> dict[str, Any]:
    """A message whose payload is a component schema, so each schema is written once."""
    message: dict[str, Any] = {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": content_type,
        "payload": schema_ref(schema),
        "bindings": bindings,
    }
    if description:
        message["description"] = description
    return message


def _channel(spec: TopicSpec, description: str, message_ids: list[str]) -> dict[str, Any]:
    """The channel of `spec`: its messages by reference, its settings as the binding's.

    Partitions and replicas are left out: they are deployment settings, not contract.
    """
    return {
        "address": spec.name,
        "title": spec.name,
        "summary": spec.description[:1].upper() + spec.description[1:] + ".",
        "description": description,
        "messages": {
            message_id: {"$ref": f"#/components/messages/{_token(message_id)}"}
            for message_id in message_ids
        },
        "bindings": {
            "kafka": {
                "topicConfiguration": _topic_configuration(spec.config),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operation(spec: TopicSpec, title: str, summary: str, description: str) -> dict[str, Any]:
    """A send operation; its messages are filled in from the channel's."""
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{_token(spec.name)}"},
        "title": title,
        "summary": summary,
        "description": description,
    }


# The events topic.


def _events(spec: TopicSpec) -> _Channel:
    """Every domain event, as the outbox relay publishes it: `cloudevent_schema`."""
    bindings = _key_binding(spec, "An event that concerns no person is keyed by its aggregate id.")
    messages: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for cls in EVENT_CLASSES:
        kind = cls.cloudevent_type()
        schemas[kind] = component_schema(cloudevent_schema(cls), kind)
        messages[kind] = _message(
            name=cls.__name__,
            title=kind,
            summary=_summary(str(payload_schema(cls).get("description", ""))) or kind,
            schema=kind,
            bindings=bindings,
            description=f"The `data` is described field by field in `docs/events.md`; its "
            f"standalone JSON Schema is `docs/{schema_file(cls).relative_to(DOCS_DIR).as_posix()}` "
            f"(`$id` `{schema_id(cls)}`), fit for CloudEvents' `dataschema`.",
        )
    channel = _channel(
        spec,
        "Every domain event the event store records, in store order per key, each as a "
        "CloudEvent whose `sequence` extension is the store's global position (zero-padded "
        "so that text order is store order). Kept forever: the log the read side is rebuilt "
        "from. Read by the backend's own consumers (the projections and the prosecution "
        "feed) and by auditors; never by prosecutors' systems.",
        list(messages),
    )
    operation = _operation(
        spec,
        "The outbox relay publishes every domain event",
        "The relay reads the event store's notification log in order and publishes each "
        "event with the idempotent producer (acks=all).",
        "It resumes from a durable position after a crash, so no event is ever lost; an "
        "event may be published twice, so consumers deduplicate by `id`.",
    )
    return _Channel(channel, "relayPublishesEvents", operation, messages, schemas)


# The prosecution feed.


def prosecution_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """JSON Schema of `cls` as the prosecution feed publishes it: the events topic's
    CloudEvent with `data` cut to the feed's whitelist and a `consentid` extension.

    The whitelist is read from `consumers.prosecution.public_data` itself: it decides by
    the event's class alone, so a bare instance of the class, given every field, shows
    which fields it keeps and which it adds (a program event's `status`, with its fixed
    value). Nothing is copied from it by hand, so the contract follows the feed.
    """
    schema = cloudevent_schema(cls)
    data: dict[str, Any] = schema["properties"]["data"]
    properties: dict[str, Any] = data["properties"]
    # A bare instance: if `public_data` ever reads the event's values, this fails loudly.
    kept = public_data(object.__new__(cls), dict.fromkeys(properties))
    data["properties"] = {
        name: properties.get(name, {"const": value}) for name, value in kept.items()
    }
    data["required"] = [name for name in kept if name in data["required"] or name not in properties]
    data["additionalProperties"] = False
    data["description"] = (
        "The whitelisted part of the event's data: no other field is ever disclosed."
    )
    schema["properties"]["redisclosure"] = {
        "const": NOTICE,
        "description": "CloudEvents extension: the notice 42 CFR 2.32 (2024) requires with "
        "a disclosure, by name and version (its text: docs/part2.md): the record is "
        "protected by federal law, may not be re-disclosed except as the rule permits, and "
        "may not be used to investigate or prosecute the patient.",
    }
    extensions = ["redisclosure"]
    if not issubclass(cls, RETURNED):
        schema["properties"]["consentid"] = {
            "type": "string",
            "format": "uuid",
            "description": "CloudEvents extension: the consent, in force when the event was "
            "published, under which it is disclosed.",
        }
        extensions.append("consentid")
    schema["required"] = [*schema["required"], "subject", *extensions]
    schema["title"] = f"{cls.__name__} for prosecutors"
    schema["description"] = (
        f"The {cls.cloudevent_type()} event as `{PROSECUTION}` carries it: the CloudEvent of "
        f"`{EVENTS}` with whitelisted `data` and the "
        + " and ".join(f"`{e}`" for e in extensions)
        + (" extension." if len(extensions) == 1 else " extensions.")
    )
    return _prune_defs(schema)


def _prosecution(spec: TopicSpec) -> _Channel:
    """The feed's types, taken from its `LEGAL` and `PROGRAM` tuples, each as disclosed."""
    bindings = _key_binding(spec)
    messages: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for cls in PROSECUTION_CLASSES:
        kind = cls.cloudevent_type()
        name = f"prosecution.{kind}"
        schemas[name] = component_schema(prosecution_schema(cls), name)
        if cls in RETURNED:
            description = (
                "An arrest diversion not taken in by its intake deadline, returned to the "
                "prosecutor for normal processing. Sent without a consent: only the "
                "prosecutor's own references (the referral, the incident's offense code and "
                "report number, the deadline), nothing of the program (docs/part2.md, "
                '"The lapse"); recorded on the audit topic as permitted.'
            )
        else:
            status = "legal status" if cls in LEGAL else "program status"
            description = (
                f"Disclosed as {status}. The data is whitelisted: only the fields "
                "in the payload schema leave (never actors, notes, reasons, contact notes, "
                "goals, health or income), and the `consentid` extension names the consent "
                "the disclosure is made under."
            )
        messages[name] = _message(
            name=cls.__name__,
            title=kind,
            summary=_summary(str(payload_schema(cls).get("description", ""))) or kind,
            schema=name,
            bindings=bindings,
            description=description,
        )
    channel = _channel(
        spec,
        "Legal events (filings, warrants, charging decisions, liaison recommendations, "
        "hearings, dispositions) and program-status events (enrolled, status changed, "
        "exited, re-engaged), only for people whose consent covers the liaison prosecutor "
        "at the moment of publishing, with their data reduced to a whitelist; and the "
        "return of an arrest diversion whose intake deadline lapsed. Every message carries "
        "the `redisclosure` notice. The only topic prosecutors' case systems may read.",
        list(messages),
    )
    operation = _operation(
        spec,
        "The prosecution feed publishes consented legal and program-status events",
        "The feed reads the events topic and republishes each legal or program-status "
        "event a prosecutor's consent covers now, whitelisted and with its `consentid`.",
        "Consent is checked when the event is published, not when it was recorded, so a "
        f"revocation stops the feed for that person at once; each disclosure is audited "
        f"on `{AUDIT}`.",
    )
    return _Channel(channel, "prosecutionFeedPublishes", operation, messages, schemas)


# The audit topic.


def disclosure_schema(outcome: str) -> dict[str, Any]:
    """JSON Schema of a disclosure record (`events.disclosure.disclosure_record`): recorded
    (with the consent), withheld (for want of one, with the reason), or permitted without
    one on a stated basis (the program's own staff, an auditor, a referrer's own referral)."""
    recorded = outcome == "recorded"
    kind = f"org.lead.disclosure.{outcome}.v1"
    null = {"type": "null"}
    data = {
        "type": "object",
        "properties": {
            "recipient_principal": {
                "type": ["string", "null"],
                "description": "Who received it (an API caller); null for the prosecution feed.",
            },
            "recipient_organisation": {
                "type": "string",
                "minLength": 1,
                "description": "The organisation disclosed to.",
            },
            "recipient_role": {"enum": [r.value for r in Role]},
            "channel": {
                "type": "string",
                "minLength": 1,
                "description": (
                    f"Where it was (or would be) sent: {PROSECUTION}, or api:<route> / "
                    "sse:<route> for an answer of the HTTP API."
                ),
            },
            "event_id": {
                "type": ["string", "null"],
                "description": "The `id` of the event disclosed or withheld (feed records).",
            },
            "event_type": {
                "type": ["string", "null"],
                "description": "The CloudEvents `type` of that event (feed records).",
            },
            "information_kind": {
                "type": "string",
                "minLength": 1,
                "examples": [k.value for k in InformationKind] + ["case_record", "caseload"],
                "description": "What kind of information it was (what consent had to cover).",
            },
            "purpose": {"type": "string", "minLength": 1},
            "consent_id": (
                {"type": "string", "format": "uuid", "description": "The consent in force."}
                if recorded
                else null
            ),
            "decided_at": {
                "type": "string",
                "format": "date-time",
                "description": "When the feed checked consent and decided.",
            },
            "reason": (
                null
                if recorded
                else {
                    "type": "string",
                    "minLength": 1,
                    "description": "Why nothing was disclosed.",
                }
            ),
        },
        "required": [
            "recipient_principal",
            "recipient_organisation",
            "recipient_role",
            "channel",
            "event_id",
            "event_type",
            "information_kind",
            "purpose",
            "consent_id",
            "decided_at",
            "reason",
        ],
        "additionalProperties": False,
    }
    return {
        "title": f"Disclosure {outcome}",
        "description": {
            "recorded": "Participant-level data disclosed (on the prosecution feed or in an "
            "API answer) under the consent in force.",
            "withheld": "A disclosure withheld because no consent covered the recipient.",
            "permitted": "Participant-level data shown without a consent on a stated basis "
            "(the program's own staff, an auditor, a referrer's own referral status).",
        }[outcome],
        "type": "object",
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "pattern": "^disclosure:.+$",
                "description": (
                    "Feed records derive it from the event's id (a repeated decision keeps "
                    "it); API records are unique per answer."
                ),
            },
            "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
            "type": {"const": kind},
            "subject": {"type": "string", "format": "uuid", "description": "The person id."},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": JSON},
            "traceparent": record_trace(
                "the request that disclosed (or the event disclosed, for the prosecution feed)"
            ),
            "data": data,
        },
        "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
    }


def record_trace(of: str) -> dict[str, Any]:
    """The distributed-tracing extension of an audit record."""
    return {
        "type": "string",
        "pattern": TRACEPARENT,
        "description": f"The CloudEvents distributed-tracing extension: the W3C traceparent "
        f"of {of}, so an operator follows it from the API's log to the record.",
    }


def authentication_schema(outcome: str) -> dict[str, Any]:
    """JSON Schema of an authentication record (`events.disclosure.authentication_record`)."""
    kind = f"org.lead.authentication.{outcome}.v1"
    text = {"type": "string", "minLength": 1}
    return {
        "title": f"Authentication {outcome}",
        "description": {
            "failed": "A request whose bearer token was missing, malformed, unknown, "
            "replaced, revoked or expired.",
            "throttled": "An address refused (429) after too many failed authentications: "
            "one record per address and window.",
        }[outcome],
        "type": "object",
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "pattern": "^authentication:.+$"},
            "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
            "type": {"const": kind},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": JSON},
            "traceparent": record_trace("the request refused"),
            "data": {
                "type": "object",
                "properties": {
                    "client_address": {**text, "description": "Where the request came from."},
                    "method": text,
                    "path": {**text, "description": "The path asked for."},
                    "reason": text,
                    "claimed_principal_id": {
                        "type": ["string", "null"],
                        "description": "The principal a well-formed token named (never the "
                        "token itself).",
                    },
                },
                "required": ["client_address", "method", "path", "reason", "claimed_principal_id"],
                "additionalProperties": False,
            },
        },
        "required": ["specversion", "id", "source", "type", "time", "data"],
    }


def checkpoint_schema() -> dict[str, Any]:
    """JSON Schema of a chain checkpoint (`infra.audit.history.ChainHistory.as_record`)."""
    return {
        "title": "Chain checkpoint",
        "description": "A signed checkpoint of the event store's hash chain, published by "
        "the notary now and then (and by `lead audit checkpoint`): an auditor holding it "
        "can tell that the history up to its position has not been changed since.",
        "type": "object",
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "pattern": "^checkpoint:.+:[0-9]+$",
                "description": "`checkpoint:<site>:<position>`: one per position.",
            },
            "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
            "type": {"const": CHECKPOINT_TYPE},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": JSON},
            "data": {
                "type": "object",
                "properties": {
                    "site": {"type": "string", "minLength": 1},
                    "position": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "The store position the chain is checkpointed at.",
                    },
                    "hash": {
                        "type": "string",
                        "pattern": "^[0-9a-f]+$",
                        "description": "The chain's hash at that position (hex).",
                    },
                    "at": {"type": "string", "format": "date-time"},
                    "signature": {
                        "type": ["string", "null"],
                        "description": "The site key's signature (hex), or null if unsigned.",
                    },
                },
                "required": ["site", "position", "hash", "at", "signature"],
                "additionalProperties": False,
            },
        },
        "required": ["specversion", "id", "source", "type", "time", "data"],
    }


def _audit(spec: TopicSpec) -> _Channel:
    """The disclosure records: auditors must see what was withheld, too."""
    bindings = _key_binding(spec)
    messages: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for outcome in DISCLOSURE_OUTCOMES:
        kind = f"org.lead.disclosure.{outcome}.v1"
        schemas[kind] = disclosure_schema(outcome)
        messages[kind] = _message(
            name=f"Disclosure{outcome.capitalize()}",
            title=kind,
            summary=str(schemas[kind]["description"]),
            schema=kind,
            bindings=bindings,
        )
    for outcome in AUTHENTICATION_OUTCOMES:
        kind = f"org.lead.authentication.{outcome}.v1"
        schemas[kind] = authentication_schema(outcome)
        messages[kind] = _message(
            name=f"Authentication{outcome.capitalize()}",
            title=kind,
            summary=str(schemas[kind]["description"]),
            schema=kind,
            bindings=bindings,
        )
    schemas[CHECKPOINT_TYPE] = checkpoint_schema()
    messages[CHECKPOINT_TYPE] = _message(
        name="ChainCheckpoint",
        title=CHECKPOINT_TYPE,
        summary=str(schemas[CHECKPOINT_TYPE]["description"]),
        schema=CHECKPOINT_TYPE,
        bindings=_key_binding(spec, "A checkpoint concerns no person: its key is empty."),
    )
    channel = _channel(
        spec,
        "Access and disclosure records: one for every event the prosecution feed "
        "considered, disclosed or withheld, and one per person and kind of information "
        "for every API answer that carried participant-level data; failed and throttled "
        "authentications; the notary's signed chain checkpoints. Read by auditors.",
        list(messages),
    )
    operation = _operation(
        spec,
        "The prosecution feed records every disclosure made or withheld",
        "For each legal or program-status event about a person, the feed records whether "
        f"it went to `{PROSECUTION}` and under which consent, or why not.",
        f"The record is sent together with the disclosure on `{PROSECUTION}`, keyed by the "
        "same person id.",
    )
    return _Channel(channel, "prosecutionFeedAudits", operation, messages, schemas)


# The dead-letter topic.


def deadletter_schema() -> dict[str, Any]:
    """JSON Schema of `consumers.deadletter.deadletter_record`'s CloudEvent."""
    record = {
        "type": "object",
        "properties": {
            "consumer": {
                "type": "string",
                "minLength": 1,
                "description": "The consumer that failed.",
            },
            "error": {
                "type": "string",
                "description": "The exception's class and message (`Type: message`).",
            },
            "topic": {"type": "string", "minLength": 1, "description": "Where it was read."},
            "partition": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0},
            "key": {
                "type": ["string", "null"],
                "description": "The original key as UTF-8 (undecodable bytes replaced), "
                "or null if it had none.",
            },
            "value_b64": {
                "type": ["string", "null"],
                "contentEncoding": "base64",
                "description": "The original value, base64-encoded, or null if it had none.",
            },
            "headers": {
                "type": "array",
                "description": "The original message's Kafka headers, in order, which a "
                "replay sends again (with a `content-type` if it had none).",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "value_b64": {"type": "string", "contentEncoding": "base64"},
                    },
                    "required": ["name", "value_b64"],
                    "additionalProperties": False,
                },
            },
        },
        # `headers` is absent from dead letters written before it was recorded.
        "required": ["consumer", "error", "topic", "partition", "offset", "key", "value_b64"],
        "additionalProperties": False,
    }
    return {
        "title": "Dead letter",
        "description": "A message a consumer could not process, with the error, kept so "
        "that an operator can fix the cause and replay it (`lead deadletter`).",
        "type": "object",
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "pattern": "^deadletter:.+$",
                "description": "`deadletter:<consumer>:<topic>:<partition>:<offset>`: the "
                "same message set aside again by the same consumer keeps it.",
            },
            "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
            "type": {"const": DEADLETTER_TYPE},
            "subject": {
                "type": "string",
                "pattern": "^.+/[0-9]+/[0-9]+$",
                "description": "Where the original was read: `<topic>/<partition>/<offset>`.",
            },
            "time": {"type": "string", "format": "date-time", "description": "When set aside."},
            "datacontenttype": {"const": JSON},
            "data": record,
        },
        "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
    }


def _deadletter(spec: TopicSpec) -> _Channel:
    """The dead letter: a CloudEvent of its own, whose data carries the original (which
    may not be a CloudEvent: that may be why it failed) base64-encoded."""
    messages = {
        DEADLETTER_SCHEMA: _message(
            name=DEADLETTER_SCHEMA,
            title=DEADLETTER_TYPE,
            summary="A message that could not be processed, with the error.",
            schema=DEADLETTER_SCHEMA,
            bindings=_key_binding(spec, "Absent if the original message had no key."),
        )
    }
    channel = _channel(
        spec,
        "Messages a consumer could not process, each with the error and its origin "
        "(topic, partition, offset). Kept long enough to fix the cause and replay them. "
        "Read by operators.",
        list(messages),
    )
    operation = _operation(
        spec,
        "The projections consumer dead-letters messages it cannot process",
        "A poison message is sent here, under its original key, and the consumer carries on.",
        "It is on this topic before its offset is committed, so nothing is skipped "
        "silently; replaying it (`lead deadletter replay`) puts the original back on its "
        f"topic with its own headers, a `{CONTENT_TYPE_HEADER}` ({CONTENT_TYPE} if it "
        "had none) and `lead-replayed-from: lead.deadletter.v1:<partition>:<offset>`.",
    )
    return _Channel(
        channel,
        "consumerDeadLetters",
        operation,
        messages,
        {DEADLETTER_SCHEMA: deadletter_schema()},
    )


# The projection topics.


def row_change_schema() -> dict[str, Any]:
    """JSON Schema of one projection row change (`consumers.projector.row_message`)."""
    change = {
        "type": "object",
        "properties": {
            "projection": {"type": "string", "minLength": 1, "description": "Its name."},
            "table": {"type": "string", "minLength": 1, "description": "The table changed."},
            "op": {"enum": list(ROW_OPS)},
            "key": {
                "type": "object",
                "description": "The row's key: its table and primary-key columns.",
            },
            "values": {
                "type": ["object", "null"],
                "description": "The row's columns after the change; null for a delete.",
            },
        },
        "required": ["projection", "table", "op", "key", "values"],
        "additionalProperties": False,
    }
    return {
        "title": "Projection row change",
        "description": "One row of a projection's table written; on a compacted topic the "
        "latest change per row key is the row's state.",
        "type": "object",
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "New for each change published: a change is a row's state, "
                "deduplicated by the message key, not by id.",
            },
            "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
            "type": {"const": ROW_CHANGED},
            "subject": {"type": "string", "description": "The message key's JSON text."},
            "time": {"type": "string", "format": "date-time", "description": "When published."},
            "datacontenttype": {"const": JSON},
            "data": change,
        },
        "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
    }


def _projection(spec: TopicSpec, name: str) -> _Channel:
    """A projection's row changes: one message per channel, so each names its own key."""
    camel = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name))
    message_id = f"{spec.name}.row_change"
    messages = {
        message_id: _message(
            name=f"{camel}RowChange",
            title=f"{name} row change",
            summary=f"A row of the {name} projection written or deleted.",
            schema=ROW_CHANGE_SCHEMA,
            bindings=_key_binding(spec),
            description=f"A deleted row is published as a tombstone instead (the row's key "
            "with no value), which compaction then drops: a binary-mode CloudEvent of type "
            f"`{ROW_DELETED}`, its attributes in the headers `ce_specversion`, `ce_id`, "
            "`ce_source`, `ce_type`, `ce_subject` (the key's text), `ce_time`, and "
            f"`{CONTENT_TYPE_HEADER}: {JSON}`, with no data.",
        )
    }
    channel = _channel(
        spec,
        f"Row changes of the {name} projection, compacted so that the latest message per key "
        "is the row's state. Read by dashboards.",
        list(messages),
    )
    operation = _operation(
        spec,
        f"The projections consumer publishes the {name} projection's row changes",
        f"Each row the {name} projection writes or deletes is published, keyed by the row.",
        "Changes are published once stored; like every message on the bus, one may be "
        "published more than once.",
    )
    return _Channel(
        channel,
        f"{camel[:1].lower()}{camel[1:]}ProjectionPublishes",
        operation,
        messages,
        {ROW_CHANGE_SCHEMA: row_change_schema()},
    )


def _describe(spec: TopicSpec) -> _Channel:
    """The document's part for one topic; an undescribed topic fails loudly."""
    if spec.name == EVENTS:
        return _events(spec)
    if spec.name == PROSECUTION:
        return _prosecution(spec)
    if spec.name == AUDIT:
        return _audit(spec)
    if spec.name == DEADLETTER:
        return _deadletter(spec)
    if match := PROJECTION_TOPIC.match(spec.name):
        return _projection(spec, match["name"])
    raise ValueError(f"events.asyncapi does not describe topic {spec.name!r}: add it there")


def asyncapi_document(topics: tuple[TopicSpec, ...] = TOPICS) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of `topics`, as plain JSON-compatible data."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for spec in topics:
        part = _describe(spec)
        channels[spec.name] = part.channel
        part.operation["messages"] = [
            {"$ref": f"#/channels/{_token(spec.name)}/messages/{_token(message_id)}"}
            for message_id in part.messages
        ]
        operations[part.operation_id] = part.operation
        messages.update(part.messages)
        schemas.update(part.schemas)
    document = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "LEAD coordination backend: the bus",
            "version": API_VERSION,
            "description": INFO_DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": LOCAL_KAFKA,
                "protocol": "kafka",
                "title": "Local broker",
                "description": "The single-node broker `lead infra up` starts for "
                "development; a deployment names its own with `LEAD_KAFKA_BOOTSTRAP`.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
    # A JSON round trip gives fresh, unshared containers (so YAML has no aliases) and
    # proves the document is plain JSON data.
    plain: dict[str, Any] = json.loads(json.dumps(document))
    return plain


def render_asyncapi() -> str:
    """The YAML of ``docs/asyncapi.yaml``."""
    header = "# Generated from the code by `lead docs`; do not edit by hand.\n"
    return header + yaml.safe_dump(
        asyncapi_document(), sort_keys=True, allow_unicode=True, width=100
    )


def write_asyncapi(root: Path) -> Path:
    """Write `docs/asyncapi.yaml` under `root`."""
    target = root / ASYNCAPI_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_asyncapi(), encoding="utf-8", newline="\n")
    return target


def check_asyncapi(root: Path) -> list[str]:
    """[] when the committed AsyncAPI document is what the code generates now."""
    target = root / ASYNCAPI_FILE
    current = target.is_file() and target.read_bytes() == render_asyncapi().encode("utf-8")
    return [] if current else [ASYNCAPI_FILE.as_posix()]
