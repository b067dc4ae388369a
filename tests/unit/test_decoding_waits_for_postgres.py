"""A message whose sealed fields cannot be opened because PostgreSQL (the person keys)
is away is waited for, never dead-lettered (consumers/app.py `decoded`).

`make chaos` found it: with PostgreSQL stopped, the workers dead-lettered good events
("OperationalError: connection failed") while opening them, and the live views lacked
what a rebuild from the topic had."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from eventsourcing import persistence

from consumers.app import decoded
from consumers.failures import Failure, GaveUp, Retry
from events.envelope import EnvelopeError


class Opening:
    """Raises each of `failures` in turn, then answers."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "changes"


def run(compute: Opening, max_attempts: int = 3) -> tuple[object, list[Failure]]:
    told: list[Failure] = []

    async def failed(_: BaseException, kind: Failure, attempts: int) -> None:
        told.append(kind)

    async def no_wait(_: float) -> None:
        return None

    async def go() -> object:
        try:
            return await decoded(
                compute, Retry(max_attempts=max_attempts, sleep=no_wait), failed=failed
            )
        except Exception as exc:
            return exc

    return asyncio.run(go()), told


def test_postgresql_away_while_opening_is_waited_out_and_the_message_applied() -> None:
    away = [psycopg.OperationalError("connection refused") for _ in range(20)]
    pool_gone = persistence.OperationalError("couldn't get a connection after 30.00 sec")
    compute = Opening(*away, pool_gone)
    result, told = run(compute)
    assert result == "changes"  # not raised: the caller would have dead-lettered it
    assert compute.calls == 22
    assert set(told) == {Failure.UNAVAILABLE}


def test_a_message_that_cannot_be_decoded_is_raised_at_once_for_the_dead_letters() -> None:
    compute = Opening(EnvelopeError("not a CloudEvent"))
    result, told = run(compute)
    assert isinstance(result, EnvelopeError)
    assert compute.calls == 1 and told == []


@pytest.mark.parametrize("state", ["40001", "57014"])
def test_a_transient_failure_that_persists_is_given_up(state: str) -> None:
    compute = Opening(*(psycopg.errors.lookup(state)("busy") for _ in range(10)))
    result, told = run(compute)
    assert isinstance(result, GaveUp)
    assert told == [Failure.TRANSIENT] * 3
