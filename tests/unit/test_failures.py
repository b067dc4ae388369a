"""The workers tell a failure no retry fixes from one that may pass (consumers/failures.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import psycopg
import psycopg.errors
import pytest
from eventsourcing import persistence
from pydantic import BaseModel, ValidationError

from consumers.failures import (
    Failure,
    GaveUp,
    Retry,
    Unreachable,
    classify,
    describe,
    isolate,
)
from events.envelope import EnvelopeError
from events.registry import UnknownEventTypeError
from infra.postgres.projection_store import Behind


def pg(state: str, message: str = "refused") -> psycopg.Error:
    """The exception psycopg raises for a server error with this SQLSTATE."""
    return psycopg.errors.lookup(state)(message)


@pytest.mark.parametrize(
    "state",
    [
        "22P05",  # untranslatable character: a NUL in text or jsonb
        "22003",  # numeric value out of range
        "22P02",  # invalid text representation
        "22007",  # invalid datetime format
        "23505",  # unique violation
        "23502",  # not-null violation
        "23503",  # foreign key violation
        "42804",  # datatype mismatch: a value of the wrong type
    ],
)
def test_data_and_integrity_errors_are_permanent(state: str) -> None:
    assert classify(pg(state)) is Failure.PERMANENT


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        ("08006", Failure.UNAVAILABLE),  # connection failure
        ("08001", Failure.UNAVAILABLE),  # could not connect
        ("08003", Failure.UNAVAILABLE),  # connection does not exist
        ("40001", Failure.TRANSIENT),  # serialization failure
        ("40P01", Failure.TRANSIENT),  # deadlock detected
        ("53100", Failure.UNAVAILABLE),  # disk full
        ("53200", Failure.UNAVAILABLE),  # out of memory
        ("53300", Failure.UNAVAILABLE),  # too many connections
        ("57014", Failure.TRANSIENT),  # query cancelled: statement_timeout
        ("57000", Failure.TRANSIENT),  # operator intervention
        ("57P01", Failure.UNAVAILABLE),  # admin shutdown
        ("57P03", Failure.UNAVAILABLE),  # cannot connect now: starting up
        ("55P03", Failure.TRANSIENT),  # lock not available: lock_timeout
        ("25006", Failure.UNAVAILABLE),  # read-only: a standby after a failover
        ("42P01", Failure.UNAVAILABLE),  # a table missing: the schema is behind the code
        ("42501", Failure.UNAVAILABLE),  # a privilege revoked
        ("28P01", Failure.UNAVAILABLE),  # the password refused
    ],
)
def test_connection_rollback_resource_and_operator_errors_are_not_permanent(
    state: str, kind: Failure
) -> None:
    assert classify(pg(state)) is kind


def test_psycopg_errors_without_a_sqlstate() -> None:
    # The connection lost, or never made: PostgreSQL is away, the message is not at fault.
    assert classify(psycopg.OperationalError("server closed the connection")) is (
        Failure.UNAVAILABLE
    )
    assert classify(psycopg.InterfaceError("the connection is closed")) is Failure.UNAVAILABLE
    assert classify(Unreachable("connection refused")) is Failure.UNAVAILABLE
    # A value psycopg refuses to send (a NUL in a text parameter): nothing will take it.
    nul = psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    assert classify(nul) is Failure.PERMANENT


def validation_error() -> ValidationError:
    class Model(BaseModel):
        n: int

    try:
        Model.model_validate({"n": "many"})
    except ValidationError as exc:
        return exc
    raise AssertionError("validated")


@pytest.mark.parametrize(
    "exc",
    [
        validation_error(),
        EnvelopeError("not a CloudEvent"),
        UnknownEventTypeError("unknown event type"),
        ValueError("bad"),
        KeyError("incident"),
        AttributeError("a projection's bug"),
        RuntimeError("anything else"),
        Behind({("lead.events.v1", 0): (3, 5)}),
    ],
    ids=type,
)
def test_every_other_error_is_permanent(exc: Exception) -> None:
    assert classify(exc) is Failure.PERMANENT


def test_timeouts_are_transient_and_a_given_up_failure_permanent() -> None:
    assert classify(TimeoutError()) is Failure.TRANSIENT
    assert classify(GaveUp(pg("40001"), 5)) is Failure.PERMANENT


def wrapped(cause: BaseException, outer: type[Exception]) -> Exception:
    """`outer` raised from `cause`, as eventsourcing wraps psycopg's errors."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise outer(str(exc)) from exc
    except Exception as exc:
        return exc
    raise AssertionError("not raised")


def test_the_cause_of_a_wrapped_error_decides() -> None:
    assert classify(wrapped(pg("40001"), persistence.OperationalError)) is Failure.TRANSIENT
    assert classify(wrapped(pg("22P05"), persistence.DataError)) is Failure.PERMANENT
    lost = wrapped(psycopg.OperationalError("lost"), persistence.OperationalError)
    assert classify(lost) is Failure.UNAVAILABLE
    assert classify(persistence.OperationalError("pool exhausted")) is Failure.UNAVAILABLE
    assert classify(persistence.DataError("bad")) is Failure.PERMANENT


def test_describe_names_the_type_the_sqlstate_and_the_attempts_on_one_line() -> None:
    error = pg("22P05", "unsupported Unicode escape sequence\nDETAIL:  \\u0000 cannot be...")
    assert describe(error) == (
        "UntranslatableCharacter [22P05]: unsupported Unicode escape sequence | "
        "DETAIL:  \\u0000 cannot be..."
    )
    assert describe(GaveUp(pg("40001", "conflict"), 3)) == (
        "SerializationFailure [40001]: conflict (3 attempts)"
    )
    assert describe(ValueError("poss \x00 nul")) == "ValueError: poss \\x00 nul"


# -- retrying ----------------------------------------------------------------------


class Flaky:
    """Work that raises the given errors in turn, then answers "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def run(
    work: Flaky, *, max_attempts: int = 3, bounded: bool = True
) -> tuple[str | BaseException, list[tuple[Failure, int]], list[float]]:
    """`Retry.run(work)` without waiting: what it gave, each failure told, each delay."""
    told: list[tuple[Failure, int]] = []
    delays: list[float] = []

    async def failed(_: BaseException, kind: Failure, attempts: int) -> None:
        told.append((kind, attempts))

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    async def go() -> str | BaseException:
        retry = Retry(max_attempts=max_attempts, sleep=sleep)
        try:
            return await retry.run(work, failed=failed, bounded=bounded)
        except Exception as exc:
            return exc

    return asyncio.run(go()), told, delays


def test_a_transient_failure_that_clears_before_the_attempts_run_out_succeeds_once() -> None:
    work = Flaky(pg("40001"), pg("57014"))
    result, told, delays = run(work)
    assert result == "done" and work.calls == 3
    assert told == [(Failure.TRANSIENT, 1), (Failure.TRANSIENT, 2)]
    assert delays == [0.2, 0.4]


def test_a_transient_failure_that_persists_is_given_up_after_the_attempts() -> None:
    work = Flaky(*(pg("40P01") for _ in range(10)))
    result, told, _ = run(work)
    assert isinstance(result, GaveUp) and result.attempts == 3
    assert isinstance(result.last, psycopg.errors.DeadlockDetected)
    assert work.calls == 3
    assert [attempts for _, attempts in told] == [1, 2, 3]


def test_postgresql_unavailable_is_waited_out_however_long_and_never_given_up() -> None:
    work = Flaky(*(psycopg.OperationalError("connection refused") for _ in range(12)), pg("57P03"))
    result, told, delays = run(work)
    assert result == "done" and work.calls == 14
    assert {kind for kind, _ in told} == {Failure.UNAVAILABLE}
    assert {attempts for _, attempts in told} == {0}
    assert delays[:6] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0] and max(delays) == 5.0


def test_an_unavailable_spell_does_not_use_up_the_transient_attempts() -> None:
    work = Flaky(pg("40001"), pg("08006"), pg("08006"), pg("08006"), pg("40001"))
    result, _, _ = run(work)
    assert result == "done"


def test_a_permanent_failure_is_raised_at_once() -> None:
    work = Flaky(pg("22P05"), pg("22P05"))
    result, told, _ = run(work)
    assert isinstance(result, psycopg.errors.UntranslatableCharacter)
    assert work.calls == 1 and told == []


def test_unbounded_retries_wait_out_transient_failures_too() -> None:
    work = Flaky(*(pg("40001") for _ in range(8)))
    result, _, _ = run(work, bounded=False)
    assert result == "done" and work.calls == 9


# -- narrowing a batch down --------------------------------------------------------


def narrowed(items: Sequence[int], bad: set[int]) -> tuple[list[int], list[tuple[int, str]], int]:
    """`isolate` over `items` with a store refusing any part holding one of `bad`: what
    was stored (in order), what was dead-lettered and why, and how many stores it took."""
    stored: list[int] = []
    dead: list[tuple[int, str]] = []
    calls = 0

    async def store(part: Sequence[int]) -> None:
        nonlocal calls
        calls += 1
        found = sorted(bad & set(part))
        if found:
            raise ValueError(f"refused {found}")
        stored.extend(part)

    async def dead_letter(item: int, exc: Exception) -> None:
        dead.append((item, str(exc)))

    asyncio.run(isolate(items, store, dead_letter))
    return stored, dead, calls


def test_a_batch_with_bad_messages_stores_the_rest_in_order_and_sets_those_aside() -> None:
    stored, dead, _ = narrowed(range(10), {3, 7})
    assert stored == [0, 1, 2, 4, 5, 6, 8, 9]
    assert dead == [(3, "refused [3]"), (7, "refused [7]")]


def test_a_good_batch_is_stored_in_one_go() -> None:
    assert narrowed(range(500), set()) == (list(range(500)), [], 1)


def test_one_bad_message_in_a_large_batch_takes_a_few_stores_not_one_per_message() -> None:
    stored, dead, calls = narrowed(range(500), {250})
    assert [item for item, _ in dead] == [250] and len(stored) == 499
    assert calls <= 2 * 9 + 1  # about 2 log2(500)


def test_a_batch_of_nothing_but_bad_messages_dead_letters_each() -> None:
    stored, dead, _ = narrowed(range(4), {0, 1, 2, 3})
    assert stored == [] and [item for item, _ in dead] == [0, 1, 2, 3]
