"""History slices: the JSON Lines file of a run of events with the signed checkpoint of
its last one, written by `write_slice` and checked offline by `verify_slice` (the
format is specified in docs/audit.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeGuard
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PublicKey,
)

from infra.audit.chain import HASH_SIZE, Checkpoint, StoredEvent, check_signature, link
from infra.audit.verification import REORDER_WINDOW, Ahead, Finding

__all__ = [
    "SLICE_FORMAT",
    "verify_slice",
    "write_slice",
]

SLICE_FORMAT = "lead-history-slice-v1"


def _event_json(event: StoredEvent, chain_hash: bytes) -> dict[str, Any]:
    return {
        "position": event.position,
        "originator_id": str(event.originator_id),
        "originator_version": event.originator_version,
        "topic": event.topic,
        "state_b64": base64.b64encode(event.state).decode("ascii"),
        "hash": chain_hash.hex(),
    }


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n"


def write_slice(
    path: Path,
    site: str,
    events: Iterable[StoredEvent],
    start_hash: bytes,
    checkpoint: Checkpoint,
) -> int:
    """Write `events` (increasing positions, the last one the checkpoint's) as a slice.

    `start_hash` is the chain hash of the event before the first one (GENESIS at the
    start of the store); `checkpoint` is the signed checkpoint of the last event.
    The events are written as they are: the file is judged by `verify_slice`, not
    here. Written to a temporary file renamed into place. Returns the event count.
    """
    if len(start_hash) != HASH_SIZE:
        raise ValueError(f"start_hash has {HASH_SIZE} bytes")
    if checkpoint.signature is None:
        raise ValueError("the checkpoint of a slice must be signed")
    if checkpoint.site != site:
        raise ValueError(f"the checkpoint is for site {checkpoint.site!r}, not {site!r}")
    iterator = iter(events)
    first = next(iterator, None)
    if first is None:
        raise ValueError("a slice holds at least one event")
    header = {
        "format": SLICE_FORMAT,
        "site": site,
        "from": first.position,
        "to": checkpoint.position,
        "start_hash": start_hash.hex(),
    }
    temporary = path.with_name(path.name + ".tmp")
    count = 0
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as out:
            out.write(_dumps(header))
            chain_hash = start_hash
            last: int | None = None
            for event in itertools.chain((first,), iterator):
                if last is not None and event.position <= last:
                    raise ValueError(
                        f"events must come in increasing position: {event.position} after {last}"
                    )
                chain_hash = link(chain_hash, event)
                out.write(_dumps(_event_json(event, chain_hash)))
                last = event.position
                count += 1
            if last != checkpoint.position:
                raise ValueError(
                    f"the last event is at {last}, the checkpoint at {checkpoint.position}"
                )
            out.write(_dumps({"checkpoint": checkpoint.to_json()}))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return count


class _Malformed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _parse_line(number: int, raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Malformed(f"line {number} is not JSON: {error}") from error


def _nonblank(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                yield number, raw


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _slice_event(number: int, data: Any) -> tuple[StoredEvent, bytes | None]:
    try:
        if not isinstance(data, dict):
            raise TypeError("not an object")
        position, version = data["position"], data["originator_version"]
        topic, state, hint = data["topic"], data["state_b64"], data.get("hash")
        if not (_is_int(position) and _is_int(version) and isinstance(topic, str)):
            raise TypeError("position, originator_version are ints, topic a string")
        if not isinstance(state, str) or not (hint is None or isinstance(hint, str)):
            raise TypeError("state_b64 and hash are strings")
        event = StoredEvent(
            position=position,
            originator_id=UUID(data["originator_id"]),
            originator_version=version,
            topic=topic,
            state=base64.b64decode(state, validate=True),
        )
        return event, None if hint is None else bytes.fromhex(hint)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as error:
        raise _Malformed(f"line {number} is not an event: {error!r}") from error


def verify_slice(
    path: Path, public_key: Ed25519PublicKey, *, published: Checkpoint | None = None
) -> Finding | None:
    """The first problem in the slice at `path`, or None if it is intact.

    The checkpoint on its last line must be signed by `public_key`, be for the
    header's site and position `to`, and equal the chain recomputed from the
    header's start_hash over the events. A `published` checkpoint (signed by the
    same key, at a position within the slice) must also match the recomputed chain
    at its position. Where the exporter's per-event hashes are present, a change is
    located at the first event that no longer matches them; otherwise it is
    reported at `to`. A file that is not a slice is reported "altered". Raises
    OSError if the file cannot be read and ValueError for a `published` checkpoint
    of another site or outside the slice.
    """
    header_position = 0
    try:
        first = last = None
        for number, raw in _nonblank(path):
            if first is None:
                first = (number, raw)
            last = (number, raw)
        if first is None or last is None:
            return Finding(0, "removed", "the file is empty")
        header = _parse_line(*first)
        if not isinstance(header, dict) or header.get("format") != SLICE_FORMAT:
            raise _Malformed(f"the first line is not a {SLICE_FORMAT} header")
        site, start, end, start_hex = (header.get(k) for k in ("site", "from", "to", "start_hash"))
        if not (isinstance(site, str) and _is_int(start) and _is_int(end)):
            raise _Malformed("the header's site, from or to is missing or mistyped")
        header_position = end
        try:
            start_hash = bytes.fromhex(start_hex) if isinstance(start_hex, str) else b""
        except ValueError:
            start_hash = b""
        if len(start_hash) != HASH_SIZE:
            raise _Malformed("the header's start_hash is not 64 hex digits")
        closing = _parse_line(*last) if last != first else None
        if not isinstance(closing, dict) or set(closing) != {"checkpoint"}:
            return Finding(end, "removed", "the last line is not the checkpoint")
        try:
            checkpoint = Checkpoint.from_json(closing["checkpoint"])
        except (ValueError, TypeError) as error:
            raise _Malformed(f"the checkpoint line is not a checkpoint: {error}") from error
        return _verify_slice_events(
            path, public_key, published, site, start, end, start_hash, checkpoint, first[0], last[0]
        )
    except _Malformed as error:
        return Finding(header_position, "altered", error.detail)


def _verify_slice_events(
    path: Path,
    public_key: Ed25519PublicKey,
    published: Checkpoint | None,
    site: str,
    start: int,
    end: int,
    start_hash: bytes,
    checkpoint: Checkpoint,
    header_line: int,
    checkpoint_line: int,
) -> Finding | None:
    if not check_signature(checkpoint, public_key):
        return Finding(end, "altered", "checkpoint signature does not match the site's key")
    if checkpoint.site != site:
        return Finding(end, "altered", f"the checkpoint is for site {checkpoint.site!r}")
    if checkpoint.position != end:
        return Finding(
            end, "altered", f"the checkpoint is for position {checkpoint.position}, not {end}"
        )
    if published is not None:
        if published.site != site:
            raise ValueError(f"the published checkpoint is for site {published.site!r}")
        if not start <= published.position <= end:
            raise ValueError(f"the published checkpoint is outside positions {start}..{end}")
        if not check_signature(published, public_key):
            return Finding(
                published.position,
                "altered",
                "published checkpoint signature does not match the site's key",
            )

    lines = Ahead(
        (
            _slice_event(number, _parse_line(number, raw))
            for number, raw in _nonblank(path)
            if header_line < number < checkpoint_line
        ),
        REORDER_WINDOW,
    )
    chain_hash = start_hash
    previous: int | None = None
    while (item := lines.next()) is not None:
        event, hint = item
        position = event.position
        if previous is None and position > start:
            return Finding(start, "removed", f"the slice starts at {position}, not {start}")
        if previous is None and position < start:
            return Finding(position, "inserted", f"position {position} is before {start}")
        if previous is not None and position == previous:
            return Finding(position, "inserted", f"position {position} appears twice")
        if previous is not None and position < previous:
            return Finding(position, "reordered", f"position {position} comes after {previous}")
        if position > end:
            return Finding(position, "inserted", f"position {position} is after {end}")
        if (
            published is not None
            and previous is not None
            and previous < published.position < position
        ):
            return Finding(
                published.position,
                "removed",
                f"the published checkpoint's position {published.position} is not in the slice",
            )
        computed = link(chain_hash, event)
        if hint is not None and hint != computed:
            try:
                ahead = lines.peek()
            except _Malformed:  # reported when the walk reaches it; this change comes first
                ahead = []
            early = [e.position for e, _ in ahead if e.position < position]
            if early:
                return Finding(
                    min(early),
                    "reordered",
                    f"position {min(early)} comes after position {position}",
                )
            if ahead and ahead[0][1] is not None and link(chain_hash, ahead[0][0]) == ahead[0][1]:
                return Finding(
                    position,
                    "inserted",
                    f"position {position} does not belong: the chain continues without it",
                )
            return Finding(
                position,
                "altered",
                f"the event at position {position} does not match its exported hash "
                "(it changed, or an event before it was removed)",
            )
        if published is not None and position == published.position and computed != published.hash:
            return Finding(position, "altered", "the chain does not match the published checkpoint")
        chain_hash, previous = computed, position

    if previous is None:
        return Finding(start, "removed", "the slice holds no events")
    if previous < end:
        return Finding(end, "removed", f"the slice ends at {previous}, not {end}")
    if chain_hash != checkpoint.hash:
        return Finding(
            end,
            "altered",
            "the events do not chain to the checkpoint's hash: something in the slice "
            "changed (its exported hashes were recomputed, so the place is unknown)",
        )
    return None
