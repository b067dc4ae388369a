"""Every request body the API accepts, given anything JSON can carry: valid, or 422 naming fields.

For each model the API takes as a body (every command in `services.commands`, and the
API's own), Hypothesis sends arbitrary JSON (wrong types, unknown fields, huge and tiny
numbers, NaN, dates in year 1 and 9999, injection-looking text, NUL and control
characters, half surrogate pairs) and mutations of the model's documented examples
with one field replaced, removed or added. Validation must either succeed or raise a
`ValidationError` whose every error names a field (or is about the body as a whole),
and the API's 422 problem for it must be JSON naming each of those fields. Any other
exception fails the test.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

import services.commands as commands
from services.application import LeadApplication
from services.http.api import create_api
from services.http.problems import (
    PROBLEM_MEDIA_TYPE,
    VALIDATION,
    _invalid,
    install_problem_handlers,
)
from services.principals import Principals
from tests.factories import IN_MEMORY

PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the models: what the API takes as a body ---------------------------------------------------
def api_bodies() -> list[type[BaseModel]]:
    application = LeadApplication(env=IN_MEMORY)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # routes only
    found: dict[str, type[BaseModel]] = {}
    for route in api.routes:
        if isinstance(route, APIRoute):
            for param in route.dependant.body_params:
                model = param.field_info.annotation
                if isinstance(model, type) and issubclass(model, BaseModel):
                    found[f"{model.__module__}.{model.__qualname__}"] = model
    return [found[name] for name in sorted(found)]


BODIES = api_bodies()
COMMANDS = {
    model
    for _, model in inspect.getmembers(commands, inspect.isclass)
    if issubclass(model, commands.Command)
    and model.__module__ == commands.__name__
    and model not in (commands.Command, commands.Occurred)
}


def test_every_command_is_a_body_the_api_takes() -> None:
    assert len(COMMANDS) > 25
    assert not COMMANDS - set(BODIES), COMMANDS - set(BODIES)


@functools.cache
def examples_of(model: type[BaseModel]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = model.model_json_schema().get("examples", [])
    return found


# -- what JSON can carry -------------------------------------------------------------------------
HOSTILE_TEXT = [
    "'; DROP TABLE events; --",
    "1' OR '1'='1",
    "Robert'); DROP TABLE students;--",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "$(rm -rf /)",
    "`reboot`",
    "; cat /etc/passwd",
    "../../../../etc/passwd",
    "{{7*7}}${7*7}",
    "${jndi:ldap://example.invalid/a}",
    "%00%0d%0a",
    "\x00",
    "a\x00b",
    "\x01\x02\x07\x08\x0b\x0c\x1b[31m\x7f",
    "\r\nSet-Cookie: x=1",
    "\u202eevil\u202c",
    "\ufeff",
    "\ud800",
    "a\udfffb",
    "",
    " ",
    "x" * 5000,
    "🌧" * 300,
    "NaN",
    "null",
    "-0",
    "1e400",
]
DATE_TEXT = [
    "0001-01-01",
    "9999-12-31",
    "0000-00-00",
    "2026-02-30",
    "2026-13-01",
    "1899-12-31",
    "1900-01-01",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999-14:00",
    "9999-12-31T23:59:59Z",
    "2026-03-02T25:00:00Z",
    "2026-03-02T09:30:00",
    "+275760-09-13T00:00:00Z",
    "24:00:00",
    "P1D",
    "today",
]
NUMBERS = [0, -1, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 2**64, 10**100, -(10**300), 10**4299]
OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))

texts = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.sampled_from(DATE_TEXT),
    st.text(max_size=40),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
    st.dates(date(1, 1, 1), date(9999, 12, 31)).map(date.isoformat),
    st.datetimes(timezones=st.none() | st.just(UTC) | OFFSETS).map(datetime.isoformat),
    st.uuids().map(str),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(NUMBERS),
    st.floats(),  # NaN and Infinity too: Python's JSON parser reads them
    texts,
)


def json_values(keys: st.SearchStrategy[str] = texts) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=8,
    )


def field_names(model: type[BaseModel]) -> list[str]:
    """Every field name in the model and the models inside it, so values land on fields."""
    names: set[str] = set()
    for example in examples_of(model):
        names.update(key for path in paths(example) for key in path if isinstance(key, str))
    return sorted(names | set(model.model_fields))


@functools.cache
def bodies(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(field_names(model)) | texts
    values = json_values(keys)
    return values | st.dictionaries(keys, values, max_size=6)


# -- mutating the documented examples ------------------------------------------------------------
Path = tuple[str | int, ...]


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """The path of every member of a JSON value, nested ones included."""
    members: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        members = list(value.items())
    elif isinstance(value, list):
        members = list(enumerate(value))
    for key, member in members:
        yield (*prefix, key)
        yield from paths(member, (*prefix, key))


def at(value: Any, path: Path) -> Any:
    for key in path:
        value = value[key]
    return value


REMOVE = object()


def changed(example: dict[str, Any], path: Path, new: Any) -> dict[str, Any]:
    copied = copy.deepcopy(example)
    container = at(copied, path[:-1])
    if new is REMOVE:
        del container[path[-1]]
    else:
        container[path[-1]] = new
    return copied


@st.composite
def mutations(draw: st.DrawFn, model: type[BaseModel]) -> tuple[Path, dict[str, Any]]:
    """One of the model's examples with one field replaced, removed or added."""
    example = draw(st.sampled_from(examples_of(model)))
    members = list(paths(example))
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "add" or not members:
        objects = [()] + [p for p in members if isinstance(at(example, p), dict)]
        path = (*draw(st.sampled_from(objects)), draw(texts))
        return path, changed(example, path, draw(json_values()))
    path = draw(st.sampled_from(members))
    return path, changed(example, path, REMOVE if how == "remove" else draw(json_values()))


# -- the properties ------------------------------------------------------------------------------
# Errors about the body as a whole: not an object, or an object with a key that is
# not text (half a surrogate pair).
WHOLE_BODY = {"model_type", "string_unicode"}


def errors_of(model: type[BaseModel], body: Any) -> list[dict[str, Any]]:
    """The errors validating `body` raises, each checked to name a field; [] if valid."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        errors = [dict(error) for error in exc.errors(include_url=False)]
    else:
        return []
    assert errors
    for error in errors:
        assert isinstance(error["loc"], tuple)
        if not error["loc"]:
            assert error["type"] in WHOLE_BODY, error
            continue
        [first, *_] = error["loc"]
        named = first in model.model_fields
        unknown = error["type"] == "extra_forbidden" and isinstance(body, dict) and first in body
        assert named or unknown, error
        assert error["msg"], error
    return errors


def answer(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The API's 422 problem for these errors, as FastAPI raises them (under `body`)."""
    exc = RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])
    scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": [], "query_string": b""}
    response = anyio.run(_invalid, Request(scope), exc)
    assert response.status_code == 422
    assert response.media_type == PROBLEM_MEDIA_TYPE
    problem: dict[str, Any] = json.loads(bytes(response.body))
    assert problem["type"] == VALIDATION
    assert problem["status"] == 422
    assert len(problem["errors"]) == len(errors)
    for error, shown in zip(errors, problem["errors"], strict=True):
        field = ".".join(str(part) for part in ("body", *error["loc"]))
        # What UTF-8 cannot carry (half a surrogate pair) is shown as its escape.
        assert shown["field"] == field.encode("utf-8", "backslashreplace").decode()
        assert shown["message"]
        assert shown["field"] in problem["detail"]
    return problem


@pytest.mark.parametrize("model", BODIES, ids=lambda m: m.__name__)
@PROPERTY
@given(data=st.data())
def test_any_json_is_valid_or_names_the_fields(model: type[BaseModel], data: st.DataObject) -> None:
    body = data.draw(bodies(model))
    if errors := errors_of(model, body):
        answer(errors)


@pytest.mark.parametrize("model", BODIES, ids=lambda m: m.__name__)
@PROPERTY
@given(data=st.data())
def test_an_example_with_one_field_changed_is_valid_or_names_that_field(
    model: type[BaseModel], data: st.DataObject
) -> None:
    if not examples_of(model):
        pytest.skip(f"{model.__name__} documents no example")
    path, body = data.draw(mutations(model))
    errors = errors_of(model, body)
    for error in errors:  # only the changed member can be wrong (or a key that is no text)
        assert error["loc"][:1] == path[:1] or error["type"] in WHOLE_BODY, (path, error)
    if errors:
        answer(errors)


def test_the_examples_themselves_are_valid() -> None:
    for model in BODIES:
        for example in examples_of(model):
            assert errors_of(model, example) == [], model.__name__


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("pathway",), "\ud800", "body.pathway"),
        (("pathway",), float("nan"), "body.pathway"),
        (("occurred_at",), "9999-12-31T23:59:59-14:00", "body.occurred_at"),
        (("person", "birth_date"), "0000-01-01", "body.person.birth_date"),
        (("incident", "place"), ["'; DROP TABLE events; --\x00"], "body.incident.place"),
        (("referrer", "<script>"), "$(reboot)", "body.referrer.<script>"),
        (("\udfff",), 1, "body"),
    ],
)
def test_the_problem_names_the_field_whatever_was_sent(path: Path, value: Any, field: str) -> None:
    sent = changed(examples_of(commands.ReceiveReferral)[0], path, value)
    problem = answer(errors_of(commands.ReceiveReferral, sent))
    assert [e["field"] for e in problem["errors"]] == [field]
    assert field in problem["detail"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (rb'{"pathway": "\ud800"}', "body.pathway"),
        (rb'{"referrer": {"\udfff": 1}}', "body.referrer"),
        (rb'{"\ud800": 1}', "body"),
    ],
)
def test_half_a_surrogate_pair_over_http_is_a_422_not_a_500(raw: bytes, field: str) -> None:
    """JSON may escape half a surrogate pair, which UTF-8 cannot carry back in the answer."""
    api = FastAPI()
    install_problem_handlers(api)

    @api.post("/v1/referrals")
    def receive(command: commands.ReceiveReferral) -> dict[str, str]:
        return {}

    with TestClient(api, raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/referrals", content=raw, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
