"""The AsyncAPI document of the bus: complete, self-contained, and true to what the
backend really publishes on each topic."""

from __future__ import annotations

import base64
import functools
import json
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from consumers.deadletter import deadletter_record
from consumers.prosecution import LEGAL, NOTICE, PROGRAM, RETURNED, ProsecutionFeed
from events.base import DomainEvent
from events.envelope import envelope
from events.registry import EVENT_CLASSES
from events.topics import (
    AUDIT,
    DEADLETTER,
    EVENTS,
    PROSECUTION,
    TOPICS,
    TopicSpec,
    projection_topic,
)
from infra.settings import PROJECT_ROOT, Settings
from services.contracts.asyncapi import (
    ASYNCAPI_FILE,
    asyncapi_document,
    check_asyncapi,
    render_asyncapi,
    write_asyncapi,
)
from services.contracts.catalog import cloudevent_schema
from tests.unit.test_contract_docs import format_checker, published_events, real_event

DOCUMENT_URI = "urn:lead:asyncapi"
CONSENT = UUID("8a0f3c1e-5b7d-4e2a-9c61-0d4b2f7e9a13")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@functools.cache
def document() -> dict[str, Any]:
    return asyncapi_document()


def resolve(ref: str) -> Any:
    """What a local ``$ref`` points at in the document (RFC 6901), or a KeyError."""
    assert ref.startswith("#/"), f"not a reference within the document: {ref}"
    node: Any = document()
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def follow(ref: str) -> Any:
    """Like `resolve`, through references to references (an operation's messages)."""
    node = resolve(ref)
    while isinstance(node, dict) and set(node) == {"$ref"}:
        node = resolve(node["$ref"])
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def channel(topic: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for c in document()["channels"].values() if c["address"] == topic
    ]
    assert len(found) == 1, f"{len(found)} channels for {topic}"
    return found[0]


def messages(topic: str) -> list[dict[str, Any]]:
    """The channel's messages, references followed."""
    return [follow(m["$ref"]) for m in channel(topic)["messages"].values()]


def payload(message: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = resolve(message["payload"]["$ref"])
    return schema


def message_type(message: dict[str, Any]) -> str:
    """The CloudEvents type a message's payload schema fixes."""
    kind: str = payload(message)["properties"]["type"]["const"]
    return kind


def validator(message: dict[str, Any]) -> Draft202012Validator:
    """Validates against the message's payload as the document holds it, its
    references resolved within the document."""
    resource = DRAFT202012.create_resource(document())
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    return Draft202012Validator(
        {"$ref": DOCUMENT_URI + message["payload"]["$ref"]},
        registry=registry,
        format_checker=format_checker(),
    )


def errors(message: dict[str, Any], instance: Any) -> list[str]:
    return [error.message for error in validator(message).iter_errors(instance)]


def by_type_on(topic: str) -> dict[str, dict[str, Any]]:
    return {message_type(m): m for m in messages(topic)}


by_class = pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.event_type)


def test_the_document_is_asyncapi_3_for_this_package_with_a_local_broker() -> None:
    doc = document()
    assert doc["asyncapi"] == "3.0.0"
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert doc["info"]["version"] == pyproject["project"]["version"]
    assert doc["servers"]["local"]["protocol"] == "kafka"
    port = Settings.model_fields["kafka_port"].default
    assert doc["servers"]["local"]["host"] == f"127.0.0.1:{port}"


def test_the_description_states_the_security_boundary() -> None:
    description = document()["info"]["description"]
    assert f"read access to `{PROSECUTION}` only" in description
    assert f"never to `{EVENTS}`" in description


@pytest.mark.parametrize("spec", TOPICS, ids=lambda spec: spec.name)
def test_every_topic_has_a_channel_with_its_settings_and_key(spec: TopicSpec) -> None:
    described = channel(spec.name)
    assert described["description"]
    kafka = described["bindings"]["kafka"]
    assert "partitions" not in kafka  # a deployment setting, not the contract's
    config = kafka["topicConfiguration"]
    assert config.get("cleanup.policy") == [spec.config["cleanup.policy"]]
    if "retention.ms" in spec.config:
        assert config["retention.ms"] == int(spec.config["retention.ms"])
    assert set(config) == set(spec.config)
    assert messages(spec.name)
    for message in messages(spec.name):
        key = message["bindings"]["kafka"]["key"]
        assert key["type"] == "string"
        assert spec.key in key["description"].lower()


@pytest.mark.parametrize("spec", TOPICS, ids=lambda spec: spec.name)
def test_every_topic_has_a_send_operation_for_all_its_messages(spec: TopicSpec) -> None:
    ops = [
        op
        for op in document()["operations"].values()
        if resolve(op["channel"]["$ref"])["address"] == spec.name
    ]
    assert len(ops) == 1
    assert ops[0]["action"] == "send"
    assert ops[0]["title"]
    sent = [follow(m["$ref"]) for m in ops[0]["messages"]]
    assert sent == messages(spec.name)
    prefix = ops[0]["channel"]["$ref"] + "/messages/"
    assert all(m["$ref"].startswith(prefix) for m in ops[0]["messages"])


def test_there_is_a_channel_for_every_topic_and_no_other() -> None:
    addresses = sorted(c["address"] for c in document()["channels"].values())
    assert addresses == sorted(spec.name for spec in TOPICS)


def test_every_reference_resolves_within_the_document() -> None:
    found = list(refs(document()))
    assert len(found) > len(EVENT_CLASSES) * 2
    for ref in found:
        resolve(ref)


@by_class
def test_every_event_class_has_a_message_on_the_events_channel(cls: type[DomainEvent]) -> None:
    message = by_type_on(EVENTS)[cls.cloudevent_type()]
    assert message["name"] == cls.__name__
    assert message["contentType"] == "application/cloudevents+json"
    assert message["payload"] == {"$ref": f"#/components/schemas/{cls.cloudevent_type()}"}
    schema = payload(message)
    expected = cloudevent_schema(cls)
    assert schema["properties"].keys() == expected["properties"].keys()
    assert schema["required"] == expected["required"]
    assert "$id" not in schema and "$schema" not in schema


def test_the_events_channel_has_one_message_per_event_class() -> None:
    assert len(messages(EVENTS)) == len(EVENT_CLASSES)


@by_class
def test_a_published_event_fits_its_message_on_the_events_channel(cls: type[DomainEvent]) -> None:
    message = by_type_on(EVENTS)[cls.cloudevent_type()]
    published = envelope(real_event(cls), position=42, source="urn:lead:site:test")
    assert errors(message, json.loads(published.to_json())) == []


def test_an_event_that_breaks_its_schema_is_caught_through_the_references() -> None:
    cls = next(c for c in EVENT_CLASSES if c.event_type == "referral.received")
    message = by_type_on(EVENTS)[cls.cloudevent_type()]
    instance = json.loads(envelope(real_event(cls), position=42, source="s").to_json())
    instance["data"]["actor"]["role"] = "judge"  # `Role` is reached through `$defs`
    assert len(errors(message, instance)) == 1


def test_the_prosecution_channel_carries_exactly_the_feed_types() -> None:
    assert [message_type(m) for m in messages(PROSECUTION)] == [
        cls.cloudevent_type() for cls in (*LEGAL, *PROGRAM, *RETURNED)
    ]
    returned = {cls.cloudevent_type() for cls in RETURNED}
    for message in messages(PROSECUTION):
        data = payload(message)["properties"]["data"]
        assert data["additionalProperties"] is False
        assert "actor" not in data["properties"]
        assert "redisclosure" in payload(message)["required"]  # the Part 2 notice, on each
        if message_type(message) in returned:  # the prosecutor's own references only
            assert "without a consent" in message["description"]
            assert set(data["properties"]) <= {
                "aggregate_id", "aggregate_version", "person_id", "occurred_at",
                "recorded_at", "deadline", "returned_to_prosecutor", "offense_code",
                "report_number",
            }  # fmt: skip
            continue
        assert "whitelisted" in message["description"]
        assert "consentid" in message["description"]
        assert "consentid" in payload(message)["required"]


def test_the_audit_and_deadletter_channels_carry_their_records() -> None:
    assert list(by_type_on(AUDIT)) == [
        "org.lead.disclosure.recorded.v1",
        "org.lead.disclosure.withheld.v1",
        "org.lead.disclosure.permitted.v1",
        "org.lead.authentication.failed.v1",
        "org.lead.authentication.throttled.v1",
        "org.lead.chain.checkpoint.v1",
    ]
    assert [m["name"] for m in messages(DEADLETTER)] == ["DeadLetterRecord"]


def test_every_message_of_every_channel_is_a_structured_cloudevent() -> None:
    document = asyncapi_document()
    assert "content-type: application/cloudevents+json" in document["info"]["description"]
    for name, message in document["components"]["messages"].items():
        assert message["contentType"] == "application/cloudevents+json", name


def test_a_checkpoint_fits_the_audit_channel() -> None:
    from datetime import UTC, datetime

    from infra.audit.chain import Checkpoint
    from infra.audit.history import ChainHistory

    checkpoint = Checkpoint(12, bytes(32), datetime.now(UTC), "test-site", b"\x01" * 64)
    record = json.loads(ChainHistory.as_record(checkpoint, "urn:lead:site:test").to_json())
    assert errors(by_type_on(AUDIT)["org.lead.chain.checkpoint.v1"], record) == []


def test_authentication_records_fit_the_audit_channel() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from events.disclosure import authentication_record

    for outcome in ("failed", "throttled"):
        record = authentication_record(
            record_id=f"authentication:{uuid4()}",
            source="urn:lead:site:test",
            outcome=outcome,
            client_address="203.0.113.9",
            method="GET",
            path="/v1/referrals",
            reason="unknown token",
            at=datetime.now(UTC),
            principal_id=uuid4() if outcome == "failed" else None,
        )
        instance = json.loads(record.to_json())
        assert errors(by_type_on(AUDIT)[record.type], instance) == []


def test_what_api_answers_record_fits_the_audit_channel() -> None:
    from uuid import uuid4

    from events.base import Actor, Role
    from services.reads import access_records

    caller = Actor(principal="cm.ortiz", role=Role.CASE_MANAGER, organisation="REACH")
    records = access_records(
        caller,
        [
            (uuid4(), "case_record", None, "program staff (case manager): case record"),
            (uuid4(), "legal_status", uuid4(), None),
            (uuid4(), "program_status", None, None),
        ],
        source="urn:lead:site:test",
        channel="api:/v1/participants/{person_id}",
        purpose="read by cm.ortiz",
    )
    for record in records:
        message = by_type_on(AUDIT)[record.type]
        assert errors(message, json.loads(record.to_json())) == [], record.type
    assert [r.type.split(".")[3] for r in records] == ["permitted", "recorded", "withheld"]


def every_message() -> list[dict[str, Any]]:
    return list(document()["components"]["messages"].values())


def test_every_message_payload_is_valid_json_schema() -> None:
    for message in every_message():
        schema = payload(message)
        Draft202012Validator.check_schema(schema)
        Draft7Validator.check_schema(schema)  # what AsyncAPI schemas extend


def feed_output(consent: UUID | None) -> list[tuple[str, dict[str, Any]]]:
    """What the prosecution feed makes of the whole scenario, by topic."""
    feed = ProsecutionFeed(
        lambda *_: consent,
        recipient_organisation="King County Prosecutor",
        source="urn:lead:site:test",
        clock=lambda: NOW,
    )
    return [
        (out.topic, json.loads(out.value))
        for position, event in enumerate(published_events(), 1)
        for out in feed.outgoing(
            envelope(event, position=position, source="urn:lead:site:test").to_json()
        )
    ]


def test_what_the_prosecution_feed_publishes_fits_the_prosecution_and_audit_channels() -> None:
    output = feed_output(CONSENT)
    disclosed = [value for topic, value in output if topic == PROSECUTION]
    assert {value["type"] for value in disclosed} == set(by_type_on(PROSECUTION))
    for value in disclosed:
        assert errors(by_type_on(PROSECUTION)[value["type"]], value) == []
    assert all(value["redisclosure"] == NOTICE for value in disclosed)
    audits = [value for topic, value in output if topic == AUDIT]
    assert len(audits) == len(disclosed)
    recorded = by_type_on(AUDIT)["org.lead.disclosure.recorded.v1"]
    permitted = by_type_on(AUDIT)["org.lead.disclosure.permitted.v1"]
    returned = {cls.cloudevent_type() for cls in RETURNED}
    for value in audits:
        lapse = value["data"]["event_type"] in returned
        assert errors(permitted if lapse else recorded, value) == []


def test_what_the_feed_withholds_fits_the_withheld_record() -> None:
    output = feed_output(None)
    assert output
    returned = {cls.cloudevent_type() for cls in RETURNED}
    # Without a consent only the return of a lapsed arrest diversion reaches prosecutors.
    assert {v["type"] for t, v in output if t == PROSECUTION} == returned
    withheld = by_type_on(AUDIT)["org.lead.disclosure.withheld.v1"]
    recorded = by_type_on(AUDIT)["org.lead.disclosure.recorded.v1"]
    audits = [v for t, v in output if t == AUDIT and v["data"]["event_type"] not in returned]
    assert audits
    for value in audits:
        assert errors(withheld, value) == []
        assert errors(recorded, value) != []


def test_a_disclosure_with_an_unlisted_field_does_not_fit() -> None:
    _, value = next(item for item in feed_output(CONSENT) if item[0] == PROSECUTION)
    message = by_type_on(PROSECUTION)[value["type"]]
    assert len(errors(message, {**value, "data": {**value["data"], "note": "x"}})) == 1
    without = {k: v for k, v in value.items() if k != "consentid"}
    assert errors(message, without) == ["'consentid' is a required property"]
    without = {k: v for k, v in value.items() if k != "redisclosure"}
    assert errors(message, without) == ["'redisclosure' is a required property"]


@pytest.mark.parametrize(("key", "value"), [(b"person-1", b"\xff not json"), (None, None)])
def test_a_dead_letter_record_fits_the_deadletter_channel(
    key: bytes | None, value: bytes | None
) -> None:
    record = json.loads(
        deadletter_record(
            consumer="lead-projections",
            topic=EVENTS,
            partition=3,
            offset=17,
            key=key,
            value=value,
            error=ValueError("bad"),
            source="urn:lead:site:test",
            headers=[("content-type", b"application/cloudevents+json")],
        )
    )
    (message,) = messages(DEADLETTER)
    assert errors(message, record) == []
    assert record["type"] == "org.lead.deadletter.recorded.v1"
    assert record["id"] == f"deadletter:lead-projections:{EVENTS}:3:17"
    data = record["data"]
    if value is not None:
        assert base64.b64decode(data["value_b64"]) == value
    assert data["headers"] == [
        {"name": "content-type", "value_b64": "YXBwbGljYXRpb24vY2xvdWRldmVudHMranNvbg=="}
    ]
    assert len(errors(message, {**record, "data": {**data, "extra": 1}})) == 1


def row_change(op: str, values: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "0b6d7f3e-8f43-4a53-9b8e-0b1a1e7c9a10",
        "source": "urn:lead:site:test",
        "type": "org.lead.projection.row_changed.v1",
        "subject": '{"referral_id": "a", "table": "referrals"}',
        "time": "2026-01-01T00:00:00+00:00",
        "datacontenttype": "application/json",
        "data": {
            "projection": "referrals",
            "table": "referrals",
            "op": op,
            "key": {"table": "referrals", "referral_id": "a"},
            "values": values,
        },
    }


def test_a_row_change_fits_each_projection_channel() -> None:
    topics = [spec.name for spec in TOPICS if spec.name.startswith("lead.projections.")]
    assert projection_topic("referrals") in topics
    for topic in topics:
        (message,) = messages(topic)
        assert errors(message, row_change("upsert", {"status": "received"})) == []
        assert errors(message, row_change("update", {"status": "approved"})) == []
        assert errors(message, row_change("delete", None)) == []
        assert len(errors(message, row_change("merge", {}))) == 1
        change = row_change("delete", None)
        assert len(errors(message, {**change, "data": {**change["data"], "extra": 1}})) == 1


def test_an_undescribed_topic_or_setting_fails_loudly() -> None:
    with pytest.raises(ValueError, match=r"lead\.other\.v1"):
        asyncapi_document((TopicSpec("lead.other.v1", "something", "person id"),))
    odd = TopicSpec(EVENTS, "every domain event", "person id", {"segment.ms": "1"})
    with pytest.raises(ValueError, match=r"segment\.ms"):
        asyncapi_document((odd,))


def test_the_yaml_is_the_document_deterministically_and_without_aliases() -> None:
    text = render_asyncapi()
    assert yaml.safe_load(text) == asyncapi_document()
    assert render_asyncapi() == text
    assert "&id" not in text and "*id" not in text


def test_the_asyncapi_document_is_written_and_its_drift_detected(tmp_path: Path) -> None:
    target = write_asyncapi(tmp_path)
    assert target == tmp_path / ASYNCAPI_FILE
    assert check_asyncapi(tmp_path) == []
    target.write_text(render_asyncapi().replace("3.0.0", "2.6.0", 1), encoding="utf-8")
    assert check_asyncapi(tmp_path) == [ASYNCAPI_FILE.as_posix()]
    target.unlink()
    assert check_asyncapi(tmp_path) == [ASYNCAPI_FILE.as_posix()]


def test_the_committed_asyncapi_document_is_current() -> None:
    assert check_asyncapi(PROJECT_ROOT) == [], "run `lead docs` and commit docs/asyncapi.yaml"
