"""A date in year 1 or 9999 in any command is refused, naming the field: nothing that
far off is a LEAD fact (a typo such as 0204 for 2024 must not become the record)."""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import services.commands as commands

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def dated_fields(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, text) of every date or date-time in an example body."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from dated_fields(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from dated_fields(item, (*path, i))
    elif isinstance(value, str) and (DATE.match(value) or DATETIME.match(value)):
        yield path, value


def replaced(body: dict[str, Any], path: tuple[Any, ...], value: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


CASES = [
    pytest.param(
        model, body, path, far, id=f"{model.__name__}.{'.'.join(map(str, path))}={far[:4]}"
    )
    for _, model in inspect.getmembers(commands, inspect.isclass)
    if issubclass(model, BaseModel) and model.__module__ == commands.__name__
    for body in model.model_json_schema().get("examples", [])[:1]
    for path, text in dated_fields(body)
    for far in (
        ("0001-01-01", "9999-12-31")
        if DATE.match(text)
        else ("0001-01-01T00:00:00+00:00", "9999-12-31T00:00:00+00:00")
    )
]


def test_the_commands_have_dated_examples_to_try() -> None:
    assert len(CASES) > 40


@pytest.mark.parametrize(("model", "body", "path", "far"), CASES)
def test_a_date_far_off_is_refused_naming_the_field(
    model: type[BaseModel], body: dict[str, Any], path: tuple[Any, ...], far: str
) -> None:
    model.model_validate(body)  # the example itself is valid
    with pytest.raises(ValidationError) as refused:
        model.model_validate(replaced(body, path, far))
    assert [e["loc"] for e in refused.value.errors()] == [path]
