"""The generated contract docs: their schemas fit what is really published, and the
committed copies are current."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from events.base import DomainEvent
from events.envelope import envelope
from events.referral import ReferralReceived
from events.registry import EVENT_CLASSES
from infra.settings import PROJECT_ROOT
from services.application import LeadApplication
from services.contracts.catalog import check_docs, cloudevent_schema, payload_schema, write_docs
from tests import scenario
from tests.unit.test_api_validation import IN_MEMORY


@functools.cache
def published_events() -> list[DomainEvent]:
    """Real events, made by the application as it makes them: the whole site scenario.

    A new event class needs a use in `tests/scenario.py`, or its schema test fails.
    """
    app = LeadApplication(env=IN_MEMORY)
    scenario.run(app)
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    events = [app.mapper.to_domain_event(n) for n in notifications]
    app.close()
    return events  # type: ignore[return-value]


def real_event(cls: type[DomainEvent]) -> DomainEvent:
    for event in published_events():
        if type(event) is cls:
            return event
    pytest.fail(f"no example of {cls.__name__}: add one to published_events()")


def format_checker() -> FormatChecker:
    """jsonschema checks `date-time` only with an extra package; the stdlib does here."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return "T" in value.upper() and datetime.fromisoformat(value).tzinfo is not None

    return checker


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker())


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    return [error.message for error in validator(schema).iter_errors(instance)]


def referral_payload() -> dict[str, Any]:
    return envelope(real_event(ReferralReceived), position=42, source="s").data


by_type = pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.event_type)


@by_type
def test_the_published_payload_fits_its_schema(cls: type[DomainEvent]) -> None:
    message = envelope(real_event(cls), position=42, source="urn:lead:site:test")
    assert errors(payload_schema(cls), message.data) == []


@by_type
def test_the_published_cloudevent_fits_its_schema(cls: type[DomainEvent]) -> None:
    message = envelope(real_event(cls), position=42, source="urn:lead:site:test")
    assert errors(cloudevent_schema(cls), json.loads(message.to_json())) == []


@by_type
def test_the_schemas_name_the_event_type(cls: type[DomainEvent]) -> None:
    assert payload_schema(cls)["$id"] == f"urn:lead:schema:{cls.cloudevent_type()}"
    assert cloudevent_schema(cls)["properties"]["type"] == {"const": cls.cloudevent_type()}


@pytest.mark.parametrize("field", ["aggregate_id", "recorded_at", "actor", "person_id"])
def test_a_payload_without_a_required_field_fails(field: str) -> None:
    data = referral_payload()
    del data[field]
    assert errors(payload_schema(ReferralReceived), data) == [f"'{field}' is a required property"]


def test_a_payload_with_a_value_outside_its_enum_fails() -> None:
    data = referral_payload()
    data["pathway"] = "walk_in"
    assert len(errors(payload_schema(ReferralReceived), data)) == 1
    data = referral_payload()
    data["actor"]["role"] = "judge"
    assert len(errors(payload_schema(ReferralReceived), data)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"originator_topic": "aggregates.referral:Referral"},
        {"aggregate_id": "not-a-uuid"},
        {"aggregate_version": 0},
        {"recorded_at": "2024-05-01"},
        {"occurred_at": "2024-05-01T10:00:00"},
    ],
)
def test_a_payload_with_bookkeeping_or_badly_formatted_values_fails(change: dict[str, Any]) -> None:
    data = {**referral_payload(), **change}
    assert len(errors(payload_schema(ReferralReceived), data)) == 1


def test_a_cloudevent_with_another_type_or_a_short_sequence_fails() -> None:
    message = json.loads(envelope(real_event(ReferralReceived), position=42, source="s").to_json())
    schema = cloudevent_schema(ReferralReceived)
    assert len(errors(schema, {**message, "type": "org.lead.referral.received.v1"})) == 1
    assert len(errors(schema, {**message, "sequence": "42"})) == 1
    assert len(errors(schema, {**message, "data": {**message["data"], "pathway": "x"}})) == 1


def test_the_committed_docs_are_current() -> None:
    stale = check_docs(PROJECT_ROOT)
    assert stale == [], (
        f"the generated contract docs are out of date: {stale}; "
        "run `lead docs` to regenerate them, then commit docs/"
    )


def test_written_docs_check_clean_and_a_changed_byte_is_reported(tmp_path: Path) -> None:
    written = write_docs(tmp_path)
    assert tmp_path / "docs" / "events.md" in written
    assert check_docs(tmp_path) == []
    schema_file = next(p for p in written if p.suffix == ".json")
    content = schema_file.read_bytes()
    schema_file.write_bytes(content[:-1] + b" ")
    assert check_docs(tmp_path) == [schema_file.relative_to(tmp_path).as_posix()]


def test_missing_and_stale_files_are_reported_and_write_docs_repairs_them(
    tmp_path: Path,
) -> None:
    write_docs(tmp_path)
    (tmp_path / "docs" / "events.md").unlink()
    stale = tmp_path / "docs" / "schemas" / "org.lead.gone.v1.json"
    stale.write_text("{}\n")
    assert check_docs(tmp_path) == ["docs/events.md", "docs/schemas/org.lead.gone.v1.json"]
    write_docs(tmp_path)
    assert not stale.exists()
    assert check_docs(tmp_path) == []


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = {p: p.read_bytes() for p in write_docs(tmp_path / "a")}
    second = {p: p.read_bytes() for p in write_docs(tmp_path / "b")}
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    assert list(first.values()) == list(second.values())
