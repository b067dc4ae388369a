"""Text at the edge: what every text field of every command refuses, keeps and normalises."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from events import text as text_module
from events.referral import Incident, ReferralReceived
from events.text import TEXT_ERROR, TEXT_PATTERN, Text, unusable_character
from infra.postgres.mapper import JSONBytesTranscoder, PydanticMapper
from services import commands
from services.application import LeadApplication
from services.http.api import create_api
from services.principals import Principals
from tests.factories import IN_MEMORY, OFFICER, POLICY, POLICY_TERMS, referral_body
from tests.http import keyed
from tests.principals import cast

REFUSED = {
    "NUL": "poss \u0000 nul",
    "a C0 control": "bell \u0007",
    "a lone carriage return": "old mac\rline",
    "DEL": "del \u007f",
    "a C1 control": "c1 \u0085",
    "a lone high surrogate": "half \ud800",
    "a lone low surrogate": "half \udfff",
    "U+FFFE": "non \ufffe",
    "U+FFFF": "non \uffff",
    "U+FDD0": "non \ufdd0",
    "U+10FFFF": "non \U0010ffff",
}


class Form(BaseModel):
    text: Text


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_unusable_characters_are_refused_naming_the_character(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Form(text=value)
    [error] = refused.value.errors()
    assert error["type"] == TEXT_ERROR
    assert "U+" in error["msg"] and "at character" in error["msg"]


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "tab\tand\nnewline",
        "Zoë Ångström",
        "日本語の名前",
        "\u202bright-to-left\u202c and \u200f marks",
        "emoji \U0001f600",
        "nbsp\u00a0and\u2028line separator",
    ],
)
def test_what_people_type_is_kept(value: str) -> None:
    assert Form(text=value).text == unicodedata.normalize("NFC", value)


def test_text_is_nfc_normalised_and_windows_line_breaks_become_one() -> None:
    decomposed = "Zoe\u0308"  # e + combining diaeresis
    assert Form(text=decomposed).text == "Zo\u00eb"
    assert Form(text="one\r\ntwo").text == "one\ntwo"


def test_the_length_limit_counts_the_normalised_text() -> None:
    # Five decomposed characters are ten code points, five once composed: within 5.
    assert len(Incident(offense_code="x", description="e\u0301" * 250).description) == 250
    with pytest.raises(ValidationError, match="at most 500 characters"):
        Incident(offense_code="x", description="e" * 501)


@given(st.text(st.characters(codec=None), max_size=30))
def test_any_text_is_kept_normalised_or_refused_for_a_named_character(value: str) -> None:
    try:
        kept = Form(text=value).text
    except ValidationError:
        assert any(unusable_character(c) for c in value.replace("\r\n", "\n"))
    else:
        assert kept == unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
        kept.encode("utf-8")  # whatever is kept can be stored and sent


COMMANDS = [
    cls
    for cls in vars(commands).values()
    if isinstance(cls, type) and issubclass(cls, commands.Command) and cls is not commands.Command
]


def _unchecked_strings(node: Any, checked: bool = False) -> Iterator[dict[str, Any]]:
    """Every `str` schema in a pydantic core schema not under the `Text` validator."""
    if isinstance(node, dict):
        if node.get("type") == "str" and not checked:
            yield node
        under = (
            node.get("type") == "function-before"
            and node.get("function", {}).get("function") is text_module._checked
        )
        for key, value in node.items():
            yield from _unchecked_strings(value, under if key == "schema" else False)
    elif isinstance(node, list):
        for value in node:
            yield from _unchecked_strings(value)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.__name__)
def test_every_text_field_of_every_command_goes_through_the_one_text_type(
    command: type[BaseModel],
) -> None:
    """A field typed plain `str` would let a NUL in: none is left, nested models included."""
    assert list(_unchecked_strings(command.__pydantic_core_schema__)) == []


def _all_string_schemas(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "string" and "enum" not in node and "format" not in node:
            yield path, node
        for key, value in node.items():
            yield from _all_string_schemas(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _all_string_schemas(value, f"{path}[{i}]")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.__name__)
def test_every_string_in_every_command_schema_states_its_maximum_length(
    command: type[BaseModel],
) -> None:
    missing = [
        path
        for path, node in _all_string_schemas(command.model_json_schema())
        if "maxLength" not in node
        and node.get("pattern") in (None, TEXT_PATTERN)
        and "const" not in node
    ]
    assert missing == []


def test_the_text_pattern_refuses_exactly_what_text_refuses() -> None:
    """Every code point but the surrogates (no pattern can name those), alone; then the
    carriage return, refused but before a newline."""
    pattern = re.compile(TEXT_PATTERN)
    for code in [*range(0xD800), *range(0xE000, 0x30000)]:
        char = chr(code)
        assert (pattern.fullmatch(char) is None) == bool(unusable_character(char)), hex(code)
    for char in (chr(plane << 16 | low) for plane in range(17) for low in (0xFFFD, 0xFFFE, 0xFFFF)):
        assert (pattern.fullmatch(char) is None) == bool(unusable_character(char)), ord(char)
    assert pattern.fullmatch("one\r\ntwo") and not pattern.fullmatch("one\rtwo")


def test_json_schema_validators_read_the_pattern_alike() -> None:
    """The Rust validator schemathesis uses, and Python's jsonschema, as the server does."""
    import jsonschema
    import jsonschema_rs

    schema = {"type": "string", "pattern": TEXT_PATTERN}
    rust = jsonschema_rs.validator_for(schema)
    for value in ("plain", "tab\tand\r\nnewline", "emoji \U0001f600", "日本語"):
        assert rust.is_valid(value) and jsonschema.Draft202012Validator(schema).is_valid(value)
    for value in REFUSED.values():
        if not any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            assert not rust.is_valid(value), value
            assert not jsonschema.Draft202012Validator(schema).is_valid(value), value


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.__name__)
def test_what_a_command_accepts_is_stated_and_what_it_stores_is_not(
    command: type[BaseModel],
) -> None:
    """A validation-mode schema (a request's) states the pattern on each text field with
    none of its own; a serialization-mode one (what is stored and answered) does not."""
    accepted = [node for _, node in _all_string_schemas(command.model_json_schema())]
    assert all("pattern" in node for node in accepted)
    shown = [
        node for _, node in _all_string_schemas(command.model_json_schema(mode="serialization"))
    ]
    assert not any(node.get("pattern") == TEXT_PATTERN for node in shown)


def test_a_stored_event_with_such_a_character_still_loads() -> None:
    """History recorded before the check is read back as it is (refused only at the edge)."""
    from aggregates.referral import Referral
    from events.referral import Person, Referrer

    referral = Referral.receive(
        policy=POLICY,
        actor=OFFICER,
        pathway=commands.Pathway.ARREST_DIVERSION,
        referrer=Referrer(principal=OFFICER.principal, organisation=OFFICER.organisation),
        incident=Incident(offense_code="x", description="clean"),
        person=Person(given_name="Ann", family_name="Doe"),
    )
    event = referral.collect_events()[0]
    mapper = PydanticMapper(transcoder=JSONBytesTranscoder())
    stored = mapper.to_stored_event(event)
    state = json.loads(stored.state)
    state["incident"]["description"] = "poss \u0000 nul"
    old = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )
    loaded = mapper.to_domain_event(old)
    assert isinstance(loaded, ReferralReceived)
    assert loaded.incident.description == "poss \u0000 nul"


@pytest.fixture
def api() -> Iterator[tuple[LeadApplication, TestClient, dict[str, dict[str, str]]]]:
    application = LeadApplication(env=IN_MEMORY)
    application.adopt_policy(commands.AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    headers = cast(application)
    created = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # no reads here
    with keyed(TestClient(created)) as client:
        yield application, client, headers


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize(
    "where", [("incident", "description"), ("person", "given_name"), ("incident", "place")]
)
def test_the_api_refuses_it_with_a_422_naming_the_field_and_records_nothing(
    api: tuple[LeadApplication, TestClient, dict[str, dict[str, str]]],
    value: str,
    where: tuple[str, str],
) -> None:
    application, client, headers = api
    before = application.recorder.max_notification_id()
    body = referral_body()
    body[where[0]][where[1]] = value
    # As a client's JSON encoder sends it: escapes for what is not plain text.
    raw = json.dumps(body).encode()
    response = client.post(
        "/v1/referrals",
        content=raw,
        headers={**headers["officer.reyes"], "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    [error] = problem["errors"]
    assert error["field"] == f"body.{where[0]}.{where[1]}"
    assert "U+" in error["message"]
    assert error["accepted"].startswith("printable Unicode text")
    assert application.recorder.max_notification_id() == before


@pytest.mark.parametrize("number", ["1e999", "-1e999", "Infinity", "NaN"])
def test_a_number_json_cannot_carry_is_refused(
    api: tuple[LeadApplication, TestClient, dict[str, dict[str, str]]], number: str
) -> None:
    """`1e999` parses as infinity, which no JSON reader downstream could read back."""
    application, client, headers = api
    before = application.recorder.max_notification_id()
    raw = json.dumps(referral_body())[:-1] + f', "facts": {{"drug_grams": {number}}}}}'
    response = client.post(
        "/v1/referrals",
        content=raw.encode(),
        headers={**headers["officer.reyes"], "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.facts.drug_grams"
    assert application.recorder.max_notification_id() == before
