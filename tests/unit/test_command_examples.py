"""Every command a client sends carries examples in its schema, and they are valid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import services.commands as commands
from services.commands import Command, Occurred

BASES: set[type[Command]] = {Command, Occurred}

# Fields meant to hold a time ahead of when the command is sent.
FORWARD_LOOKING = {"scheduled_for", "hearing_at", "expires_at", "irrevocable_until"}


def subclasses(cls: type[Command]) -> Iterator[type[Command]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


COMMANDS = sorted(
    {c for c in subclasses(Command) if c not in BASES and c.__module__ == commands.__name__},
    key=lambda c: c.__name__,
)


def examples_of(cls: type[Command]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cls.model_json_schema().get("examples", [])
    return found


EXAMPLES = [
    pytest.param(cls, i, example, id=f"{cls.__name__}-{i}")
    for cls in COMMANDS
    for i, example in enumerate(examples_of(cls))
]


def dated(value: Any, key: str = "") -> Iterator[tuple[str, date]]:
    """Every (field, date) in an example; datetimes as their UTC date."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from dated(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from dated(v, key)
    elif isinstance(value, str):
        try:
            if len(value) == 10:
                yield key, date.fromisoformat(value)
            elif "T" in value:
                yield key, datetime.fromisoformat(value).astimezone(UTC).date()
        except ValueError:
            pass


def test_the_commands_are_found() -> None:
    names = {cls.__name__ for cls in COMMANDS}
    assert {"ReceiveReferral", "ApproveReferral", "GrantConsent", "RecordContact"} <= names
    assert not names & {"Command", "Occurred"}


def test_every_command_has_examples() -> None:
    lacking = [cls.__name__ for cls in COMMANDS if not examples_of(cls)]
    assert not lacking, f"commands without examples in their JSON schema: {', '.join(lacking)}"


def test_every_command_keeps_the_base_config() -> None:
    loose = [
        cls.__name__
        for cls in COMMANDS
        if cls.model_config.get("frozen") is not True or cls.model_config.get("extra") != "forbid"
    ]
    assert not loose, f"commands no longer frozen with extra='forbid': {', '.join(loose)}"


@pytest.mark.parametrize(("cls", "index", "example"), EXAMPLES)
def test_each_example_is_a_valid_command(
    cls: type[Command], index: int, example: dict[str, Any]
) -> None:
    cls.model_validate(example)


@pytest.mark.parametrize(("cls", "index", "example"), EXAMPLES)
def test_each_example_has_plausible_dates(
    cls: type[Command], index: int, example: dict[str, Any]
) -> None:
    today = datetime.now(UTC).date()
    for field, day in dated(example):
        assert date(1900, 1, 1) <= day <= today + timedelta(days=3650), (field, day)
        if field not in FORWARD_LOOKING:
            assert day <= today, f"{cls.__name__}[{index}].{field} = {day} is in the future"
