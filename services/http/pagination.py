"""Cursor pagination over ordered lists: a page, and an opaque cursor to the next one.

The cursor holds the sort key of the last item returned, not a page number, so a
list that changes between two requests neither repeats nor skips what stayed in it.
It is that key as a JSON array (datetimes as ISO 8601 in UTC, dates as ISO dates, ids
as text, "no value" as ""), base64url-encoded: opaque to clients, at most 400
characters. The lists read from PostgreSQL (`keyset_page`) hand the key to the query,
which seeks past it in SQL (`WHERE (sort key) > (cursor) ORDER BY sort key LIMIT n+1`);
lists that are not (principals, and those filtered by consent first) are cut here
(`page`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR = 400
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*={0,2}$"
"""What `encode` writes: URL-safe base64 (of the JSON sort key), at most MAX_CURSOR long."""


class CursorError(ValueError):
    pass


def _plain(value: Any) -> Any:
    """Key parts as JSON values that sort the same way the originals do."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if value is None:
        return ""
    return value


def sort_key(parts: Sequence[Any]) -> list[Any]:
    return [_plain(p) for p in parts]


def encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise CursorError(
            "query parameter cursor: not a cursor from this API; pass the next_cursor of "
            "the previous page, or leave it out for the first page"
        ) from None
    if not isinstance(key, list):
        raise CursorError("query parameter cursor: not a cursor from this API")
    return key


def keyset_page(
    fetch: Callable[[list[Any] | None, int], Sequence[T]],
    key: Callable[[T], Sequence[Any]],
    cursor: str | None,
    limit: int,
    width: int,
) -> dict[str, Any]:
    """A page that `fetch(after, n)` reads: at most n items, in `key` order, after the
    key `after` (None: from the first). One more than the page is asked for, to know
    whether there is a next one. `width`: how many parts the list's key has."""
    after = decode(cursor) if cursor else None
    if after is not None and (
        len(after) != width or not all(isinstance(p, str | int | float) for p in after)
    ):
        raise CursorError("query parameter cursor: belongs to another list")
    # As text: the query casts each part to its column's type, so a value of the wrong
    # kind is a data error (answered 422), never a type the cast cannot take.
    found = list(fetch(None if after is None else [str(p) for p in after], limit + 1))
    chosen = found[:limit]
    more = len(found) > limit
    return {
        "items": chosen,
        "next_cursor": encode(sort_key(key(chosen[-1]))) if more and chosen else None,
    }


def page(
    items: Sequence[T], key: Callable[[T], Sequence[Any]], cursor: str | None, limit: int
) -> dict[str, Any]:
    """`items` must already be in `key` order. Returns {"items", "next_cursor"}."""
    after = decode(cursor) if cursor else None
    keyed = [(sort_key(key(item)), item) for item in items]
    if after is not None:
        try:
            keyed = [(k, item) for k, item in keyed if k > after]
        except TypeError:
            raise CursorError("query parameter cursor: belongs to another list") from None
    chosen = keyed[:limit]
    more = len(keyed) > limit
    return {
        "items": [item for _, item in chosen],
        "next_cursor": encode(chosen[-1][0]) if more and chosen else None,
    }
