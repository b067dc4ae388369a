"""A message the prosecution feed cannot handle is set aside, and the feed goes on
(consumers/app.feed_outgoing); a consent look-up PostgreSQL cannot answer now waits."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import psycopg.errors
from eventsourcing import persistence

from consumers.app import Record, feed_outgoing
from consumers.failures import Failure, Retry
from consumers.prosecution import Outgoing
from events.envelope import EnvelopeError
from events.topics import EVENTS, PROSECUTION

SENT = [Outgoing(PROSECUTION, b"person", b"{}")]
RECORD = Record(EVENTS, 4, 17, b"person", b"{}")


class Feed:
    """A prosecution feed whose look-up raises the given errors in turn, then answers."""

    def __init__(self, *errors: BaseException, concerns: bool | BaseException = True) -> None:
        self.errors = list(errors)
        self.answer = concerns
        self.calls = 0

    def concerns(self, value: bytes) -> bool:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def outgoing(self, value: bytes) -> list[Outgoing]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return SENT


def handled(feed: Feed) -> tuple[list[Outgoing], list[str], list[Failure]]:
    """What `feed_outgoing` gives for RECORD, what it set aside, the failures it told."""
    aside: list[str] = []
    told: list[Failure] = []

    async def set_aside(record: Record, exc: Exception) -> None:
        assert record == RECORD
        aside.append(type(exc).__name__)

    async def failed(_: BaseException, kind: Failure, attempts: int) -> None:
        told.append(kind)

    async def no_wait(_: float) -> None:
        pass

    retry = Retry(max_attempts=3, sleep=no_wait)
    found = asyncio.run(
        feed_outgoing(feed, RECORD, retry, failed=failed, set_aside=set_aside)  # type: ignore[arg-type]
    )
    return found, aside, told


def test_an_event_it_handles_goes_out() -> None:
    assert handled(Feed()) == (SENT, [], [])


def test_a_message_it_cannot_handle_is_set_aside_and_nothing_goes_out() -> None:
    found, aside, told = handled(Feed(KeyError("status")))
    assert found == [] and aside == ["KeyError"] and told == []


def test_a_consent_look_up_postgresql_cannot_answer_is_waited_out() -> None:
    down: list[Any] = [
        persistence.OperationalError("connection refused") for _ in range(6)
    ]  # eventsourcing's, as the event store raises it
    feed = Feed(*down)
    found, aside, told = handled(feed)
    assert found == SENT and aside == [] and feed.calls == 7
    assert told == [Failure.UNAVAILABLE] * 6


def test_a_look_up_failing_transiently_past_the_attempts_is_set_aside() -> None:
    feed = Feed(*(psycopg.errors.lookup("57014")("statement timeout") for _ in range(5)))
    found, aside, told = handled(feed)
    assert found == [] and aside == ["GaveUp"] and feed.calls == 3
    assert told == [Failure.TRANSIENT] * 3


def test_what_is_not_an_event_is_left_to_the_projections_agent() -> None:
    # It dead-letters that message itself: set aside here too, it would be there twice.
    found, aside, _ = handled(Feed(concerns=EnvelopeError("not a CloudEvent")))
    assert found == [] and aside == []
