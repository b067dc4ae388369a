"""What the workers do when a message cannot be applied: wait, retry, or set it aside.

Three kinds of failure, told apart by `classify`:

- **unavailable**: PostgreSQL cannot serve anyone (connection refused or lost, any
  failure to connect, SQLSTATE classes 08 connection, 53 insufficient resources such
  as a full disk, 58 system error, 57P01-57P03 a server shutting down or starting up,
  25006 a read-only server: a standby after a failover), or the deployment is not what
  this code expects (28 authorization, 3D database, 3F000 schema, 42P01 table, 42703
  column, 42883 function missing, 42501 privilege revoked: an operator must act).
  Nothing is wrong with the message: it is retried with a growing delay for as long
  as it takes, and the partition shows as stuck meanwhile. A restart or a failover
  of PostgreSQL therefore never dead-letters a good message.
- **transient**: this statement failed, but the same statement may pass next time
  (class 40 serialization failure or deadlock, 57014 statement timeout / query
  cancelled and the rest of class 57, 55P03 lock not available, a Python timeout).
  Retried with a growing delay up to `Retry.max_attempts` times, then given up
  (`GaveUp`) and handled as permanent.
- **permanent**: no retry fixes it: class 22 data exception (a NUL, a number out of
  range), class 23 integrity violation, any other SQLSTATE, a value psycopg refuses
  to send, and every error that is not PostgreSQL's (decoding, validation, a bug in a
  projection).

A batch that fails permanently (or gives up) is stored in halves, down to the single
messages whose own store fails (`isolate`); only those are dead-lettered, and the
rest of the batch is stored. So a message is dead-lettered for a transient failure
only when, stored alone, it failed `max_attempts` times while the messages around it
were stored.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from eventsourcing import persistence

log = logging.getLogger(__name__)

T = TypeVar("T")
Item = TypeVar("Item")


class Failure(enum.Enum):
    """What a failure calls for: waiting for PostgreSQL, a bounded retry, or none."""

    UNAVAILABLE = "unavailable"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


UNAVAILABLE_CLASSES = frozenset({"08", "28", "3D", "53", "58"})
UNAVAILABLE_STATES = frozenset(
    {"57P01", "57P02", "57P03", "25006", "3F000", "42P01", "42703", "42883", "42501"}
)
TRANSIENT_CLASSES = frozenset({"40", "57"})
TRANSIENT_STATES = frozenset({"55P03"})  # lock_not_available (lock_timeout)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from (eventsourcing wraps psycopg's errors)."""
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        yield found
        found = found.__cause__ or found.__context__


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE PostgreSQL answered with, if the failure came from it."""
    for found in _chain(exc):
        if isinstance(found, psycopg.Error) and found.sqlstate:
            return found.sqlstate
    return None


class Unreachable(Exception):
    """PostgreSQL could not be connected to: whatever it answered, no message is the cause."""


def classify(exc: BaseException) -> Failure:
    """Whether waiting, retrying or nothing can make `exc` go away (see the module)."""
    if isinstance(exc, GaveUp):
        return Failure.PERMANENT
    if isinstance(exc, Unreachable):
        return Failure.UNAVAILABLE
    for found in _chain(exc):
        if isinstance(found, psycopg.Error):
            state = found.sqlstate
            if state is None:  # raised by psycopg itself, nothing reached the server
                lost = isinstance(found, psycopg.OperationalError | psycopg.InterfaceError)
                return Failure.UNAVAILABLE if lost else Failure.PERMANENT
            if state in UNAVAILABLE_STATES or state[:2] in UNAVAILABLE_CLASSES:
                return Failure.UNAVAILABLE
            if state in TRANSIENT_STATES or state[:2] in TRANSIENT_CLASSES:
                return Failure.TRANSIENT
            return Failure.PERMANENT
    for found in _chain(exc):
        if isinstance(found, persistence.OperationalError | persistence.InterfaceError):
            return Failure.UNAVAILABLE  # eventsourcing's, without psycopg's below it
        if isinstance(found, TimeoutError):
            return Failure.TRANSIENT
    return Failure.PERMANENT


def describe(exc: BaseException) -> str:
    """`exc` as a dead letter and `lead projections status` show it: type, SQLSTATE, text."""
    if isinstance(exc, GaveUp):
        return f"{describe(exc.last)} ({exc.attempts} attempts)"
    state = sqlstate(exc)
    text = f"{type(exc).__name__}{f' [{state}]' if state else ''}: {exc}"
    # One line (PostgreSQL's DETAIL and CONTEXT come on lines of their own), and no NUL.
    return " | ".join(line.strip() for line in text.splitlines() if line.strip()).replace(
        "\x00", "\\x00"
    )


class GaveUp(Exception):
    """A transient failure that outlasted every attempt: handled as a permanent one."""

    def __init__(self, last: BaseException, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts: {describe(last)}")
        self.last = last
        self.attempts = attempts


Failed = Callable[[BaseException, Failure, int], Awaitable[None]]
"""Told of each failure retried: the error, its kind, and the transient attempts so far."""


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a failing store is tried again (see the module)."""

    max_attempts: int = 5
    first_delay: float = 0.2
    max_delay: float = 5.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def run(
        self,
        work: Callable[[], Awaitable[T]],
        *,
        failed: Failed | None = None,
        bounded: bool = True,
    ) -> T:
        """`work()`, retried while it fails for a reason other than a permanent one.

        A transient failure counts as an attempt (unless not `bounded`: the store of a
        dead-lettered message's offset, which holds nothing of the message, waits like
        an unavailable PostgreSQL); after `max_attempts` of them, `GaveUp` is raised.
        A permanent failure is raised at once."""
        attempts = 0
        delay = self.first_delay
        while True:
            try:
                return await work()
            except Exception as exc:
                kind = classify(exc)
                if kind is Failure.PERMANENT:
                    raise
                if kind is Failure.TRANSIENT and bounded:
                    attempts += 1
                if failed is not None:
                    await failed(exc, kind, attempts)
                if attempts >= self.max_attempts:
                    raise GaveUp(exc, attempts) from exc
                await self.sleep(delay)
                delay = min(delay * 2, self.max_delay)


async def isolate(
    items: Sequence[Item],
    store: Callable[[Sequence[Item]], Awaitable[object]],
    dead: Callable[[Item, Exception], Awaitable[None]],
) -> None:
    """`store(items)`; when that fails for good, the two halves are stored in turn, and
    so on down to the single items whose own store fails, which go to `dead`.

    The halves keep the items' order, so each partition's messages are stored in
    offset order. A batch with one bad message costs about 2 log2(n) stores."""
    try:
        await store(items)
        return
    except Exception as exc:
        if len(items) == 1:
            await dead(items[0], exc)
            return
        log.warning("a batch of %d failed (%s); storing it in halves", len(items), describe(exc))
    middle = len(items) // 2
    await isolate(items[:middle], store, dead)
    await isolate(items[middle:], store, dead)
