"""Cursor pages: every item once, in order, even when the list changes between pages."""

from datetime import UTC, datetime, timedelta

import pytest

from services.http.pagination import CursorError, page


def test_walking_the_pages_yields_every_item_once_in_order() -> None:
    items = list(range(25))
    seen: list[int] = []
    cursor = None
    while True:
        result = page(items, lambda i: (i,), cursor, 10)
        seen += result["items"]
        cursor = result["next_cursor"]
        if cursor is None:
            break
    assert seen == items


def test_an_item_removed_between_pages_does_not_shift_the_next_page() -> None:
    items = [f"r{i:02}" for i in range(10)]
    first = page(items, lambda s: (s,), None, 4)
    assert first["items"] == ["r00", "r01", "r02", "r03"]
    shrunk = [s for s in items if s != "r01"]
    second = page(shrunk, lambda s: (s,), first["next_cursor"], 4)
    assert second["items"] == ["r04", "r05", "r06", "r07"]


def test_datetimes_in_other_offsets_sort_as_instants() -> None:
    base = datetime(2026, 3, 2, 12, tzinfo=UTC)
    items = [base + timedelta(hours=h) for h in range(4)]
    first = page(items, lambda d: (d,), None, 2)
    later = [d.astimezone(UTC) for d in items]
    assert page(later, lambda d: (d,), first["next_cursor"], 2)["items"] == items[2:]


def test_a_bad_cursor_names_the_parameter() -> None:
    with pytest.raises(CursorError, match="cursor"):
        page([1, 2], lambda i: (i,), "%%%not-base64", 1)


def test_a_keyset_page_asks_for_one_more_than_it_shows_and_seeks_past_the_cursor() -> None:
    from services.http.pagination import keyset_page

    items = list(range(7))
    asked: list[tuple[object, int]] = []

    def fetch(after: list[object] | None, n: int) -> list[int]:
        asked.append((after, n))
        return [i for i in items if after is None or i > int(str(after[0]))][:n]

    first = keyset_page(fetch, lambda i: (i,), None, 3, 1)
    second = keyset_page(fetch, lambda i: (i,), first["next_cursor"], 3, 1)
    last = keyset_page(fetch, lambda i: (i,), second["next_cursor"], 3, 1)
    assert [first["items"], second["items"], last["items"]] == [[0, 1, 2], [3, 4, 5], [6]]
    assert last["next_cursor"] is None
    assert asked == [(None, 4), (["2"], 4), (["5"], 4)]  # as text, for the query to cast


def test_a_cursor_of_another_list_is_refused_before_any_query() -> None:
    from services.http.pagination import encode, keyset_page

    def fetch(after: list[object] | None, n: int) -> list[int]:
        raise AssertionError("queried")

    for other in (encode(["a", "b"]), encode([{"x": 1}])):
        with pytest.raises(CursorError, match="another list"):
            keyset_page(fetch, lambda i: (i,), other, 3, 1)
