"""Finding the first problem: the store's events against their recorded chain
(`verify_chain`), and a copy's (position, digest) pairs against the store's
(`verify_sequence`), each reported as a `Finding`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

from infra.audit.chain import GENESIS, StoredEvent, link

__all__ = [
    "REORDER_WINDOW",
    "Finding",
    "Kind",
    "Recorded",
    "verify_chain",
    "verify_sequence",
]

# How many following events the verifiers examine to tell a reordering from a change.
REORDER_WINDOW = 64

T = TypeVar("T")
_P = TypeVar("_P", int, StoredEvent)
Kind = Literal["altered", "removed", "inserted", "reordered"]
Recorded = Mapping[int, bytes] | Callable[[int], bytes | None]


@dataclass(frozen=True)
class Finding:
    """The first place where history no longer matches: its position and what happened."""

    position: int
    kind: Kind
    detail: str


class Ahead(Generic[T]):
    """An iterator that can look a few items ahead."""

    def __init__(self, items: Iterable[T], size: int) -> None:
        self._items = iter(items)
        self._buffer: deque[T] = deque()
        self._size = size

    def next(self) -> T | None:
        return self._buffer.popleft() if self._buffer else next(self._items, None)

    def peek(self) -> list[T]:
        while len(self._buffer) < self._size:
            item = next(self._items, None)
            if item is None:
                break
            self._buffer.append(item)
        return list(self._buffer)


def _belongs_at(
    previous: bytes,
    position: int,
    recorded: bytes,
    candidates: Iterable[StoredEvent],
    *,
    occupant: StoredEvent | None = None,
) -> StoredEvent | None:
    """The candidate whose content is what the chain recorded at `position`, if any.

    A candidate matches if its whole content (a swap of two rows' positions), or its
    topic and state, or its state alone put into `occupant` (a swap of two rows'
    payloads), hashes to `recorded` after `previous` at `position`.
    """
    for candidate in candidates:
        trials = [replace(candidate, position=position)]
        if occupant is not None:
            trials.append(replace(occupant, state=candidate.state))
            trials.append(replace(occupant, topic=candidate.topic, state=candidate.state))
        if any(link(previous, trial) == recorded for trial in trials):
            return candidate
    return None


def _in_order(items: list[_P]) -> list[_P]:
    """`items` (events or positions), checked to be in strictly increasing position."""
    positions = [item if isinstance(item, int) else item.position for item in items]
    for before, after in itertools.pairwise(positions):
        if after <= before:
            raise ValueError(f"events must come in increasing position: {after} after {before}")
    return items


def verify_chain(
    events: Iterable[StoredEvent],
    recorded: Recorded,
    *,
    start_hash: bytes = GENESIS,
    progress: Callable[[int], None] | None = None,
) -> Finding | None:
    """The first position where `events` no longer match the `recorded` chain, or None.

    `events` are the store's rows in increasing position (ValueError otherwise),
    starting after the event whose chain hash is `start_hash` (GENESIS: the start of
    the store). `recorded` gives the chain hash recorded for a position (None / absent
    if there is none). `progress` is called with each position found intact.

    The events are walked in order, each linked to the recorded hash of the one
    before. The first problem is classified as:

    * removed   -- a position between two consecutive events (or before the first,
      from a GENESIS start) has a recorded hash: its event is gone. With a Mapping,
      recorded positions after the last event are also reported (so a Mapping must
      cover exactly the events' range; pass a callable to check part of a chain).
      Every position in a gap is looked up: pass a Mapping for long gaps.
    * inserted  -- an event's position has no recorded hash.
    * reordered -- an event does not match its recorded hash, or was removed, but
      the content the chain recorded there is found in one of the next
      REORDER_WINDOW events (both rows' positions swapped, or their topic/state
      swapped): reported at the first of the two positions.
    * altered   -- an event does not match its recorded hash otherwise: its content
      changed (or an earlier event was removed together with its chain row).

    Events after the end of a recorded chain are "inserted": bound the events read
    to the chain's end. This checks the events against the chain; to make sure the
    chain itself was not rewritten, compare its hashes to signed checkpoints.
    """
    lookup: Callable[[int], bytes | None] = (
        recorded.get if isinstance(recorded, Mapping) else recorded
    )
    ahead = Ahead(events, REORDER_WINDOW)
    previous = start_hash
    previous_position: int | None = 0 if start_hash == GENESIS else None
    while (event := ahead.next()) is not None:
        position = event.position
        if previous_position is not None:
            _in_order([previous_position, position])
            for missing in range(previous_position + 1, position):
                hash_there = lookup(missing)
                if hash_there is None:
                    continue
                window = _in_order([event, *ahead.peek()])
                moved = _belongs_at(previous, missing, hash_there, window)
                if moved is not None:
                    return Finding(
                        missing,
                        "reordered",
                        f"the event recorded at position {missing} is now at {moved.position}",
                    )
                return Finding(
                    missing,
                    "removed",
                    f"the chain records an event at position {missing}; the store has none",
                )
        expected = lookup(position)
        if expected is None:
            return Finding(
                position, "inserted", f"the chain records no event at position {position}"
            )
        if link(previous, event) != expected:
            window = _in_order([event, *ahead.peek()])[1:]
            swapped = _belongs_at(previous, position, expected, window, occupant=event)
            if swapped is not None:
                return Finding(
                    position,
                    "reordered",
                    f"the event recorded at position {position} is now at {swapped.position}",
                )
            return Finding(
                position,
                "altered",
                f"the event at position {position} does not match the hash the chain "
                "recorded for it (its content changed, or an earlier event was removed "
                "with its chain entry)",
            )
        previous, previous_position = expected, position
        if progress is not None:
            progress(position)
    if isinstance(recorded, Mapping) and previous_position is not None:
        after = [p for p in recorded if p > previous_position]
        if after:
            missing = min(after)
            return Finding(
                missing,
                "removed",
                f"the chain records an event at position {missing}; the store has none",
            )
    return None


def _distinct(pairs: Iterable[tuple[int, bytes]]) -> tuple[list[int], dict[int, bytes], int | None]:
    """Order of first appearance, digest by position, first position seen with two digests.

    An exact repeat of a (position, digest) is dropped: a relay that crashed between
    publishing and saving its position publishes a batch again.
    """
    order: list[int] = []
    digests: dict[int, bytes] = {}
    conflict: int | None = None
    for position, digest in pairs:
        seen = digests.get(position)
        if seen is None:
            digests[position] = digest
            order.append(position)
        elif seen != digest and (conflict is None or position < conflict):
            conflict = position
    return order, digests, conflict


def verify_sequence(
    actual: Sequence[tuple[int, bytes]], expected: Sequence[tuple[int, bytes]]
) -> Finding | None:
    """The first position where `actual` differs from `expected`, or None.

    Both are (position, digest) pairs; `expected` is usually the store in position
    order, `actual` a copy (e.g. the topic, in offset order: for a topic of several
    partitions compare each partition with the store's events for it). An exact
    repeat of a pair in `actual` is ignored (republished after a relay crash).
    Problems, reported at the smallest position (content before order on a tie):

    * altered   -- a position with another digest (or two different digests in `actual`)
    * removed   -- a position `expected` has and `actual` lacks
    * inserted  -- a position `actual` has and `expected` lacks
    * reordered -- the pairs both have come in another order: reported at the
      position `expected` has where the two orders first differ.
    """
    expected_order, expected_digests, expected_conflict = _distinct(expected)
    if expected_conflict is not None:
        raise ValueError(f"expected has two digests for position {expected_conflict}")
    actual_order, actual_digests, actual_conflict = _distinct(actual)

    content: Finding | None = None
    for position in sorted(expected_digests.keys() | actual_digests.keys()):
        want, got = expected_digests.get(position), actual_digests.get(position)
        if got is None:
            content = Finding(position, "removed", f"position {position} is missing")
        elif want is None:
            content = Finding(position, "inserted", f"position {position} is not expected")
        elif want != got:
            content = Finding(position, "altered", f"position {position} has another digest")
        elif position == actual_conflict:
            content = Finding(
                position, "altered", f"position {position} appears with two different digests"
            )
        if content is not None:
            break

    same = {
        p
        for p, digest in expected_digests.items()
        if actual_digests.get(p) == digest and p != actual_conflict
    }
    order: Finding | None = None
    for want_position, got_position in zip(
        (p for p in expected_order if p in same),
        (p for p in actual_order if p in same),
        strict=True,
    ):
        if want_position != got_position:
            order = Finding(
                want_position,
                "reordered",
                f"position {got_position} comes where position {want_position} was expected",
            )
            break

    if content is None or (order is not None and order.position < content.position):
        return order
    return content
