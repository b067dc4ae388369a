"""The W3C trace context (`traceparent`) a command carries from the API into the events it
records, their CloudEvents (the distributed-tracing extension) and the workers' logs.

The API sets it for each request (the caller's `traceparent` header when it is a valid
one, else a new one) and every event recorded while handling the request carries it; a
trace id is random, never derived from a person or a record.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

TRACEPARENT = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_PATTERN = re.compile(TRACEPARENT)
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16

_current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def current() -> str | None:
    """The traceparent of the command being handled here, if any."""
    return _current.get()


def new() -> str:
    """A fresh traceparent: a random trace id and span id, sampled."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child(parent: str | None) -> str:
    """A span of its own in `parent`'s trace when that is a valid traceparent, else a new trace."""
    found = valid(parent)
    if found is None:
        return new()
    version, trace, _, flags = found.split("-")
    return f"{version}-{trace}-{secrets.token_hex(8)}-{flags}"


def valid(value: str | None) -> str | None:
    """`value` if it is a traceparent of version 00 with non-zero ids (lower case)."""
    if value is None or not _PATTERN.fullmatch(value):
        return None
    _, trace, span, _ = value.split("-")
    return None if trace == _ZERO_TRACE or span == _ZERO_SPAN else value


def trace_id(traceparent: str | None) -> str | None:
    """The 32 hex digits of the trace (what logs show)."""
    return traceparent.split("-")[1] if traceparent else None


@contextmanager
def tracing(traceparent: str | None) -> Iterator[str | None]:
    """Within the block, events recorded carry `traceparent`."""
    token = _current.set(traceparent)
    try:
        yield traceparent
    finally:
        _current.reset(token)
