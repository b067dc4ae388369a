"""Small-count suppression: the published cell, share and figure, withheld below the
threshold, with complementary suppression across a breakdown or a two-way table.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final, TypedDict, TypeVar

DEFAULT_SUPPRESS_BELOW: Final = 11
"""Small-cell threshold: counts from 1 to 10 are withheld unless the PCG sets otherwise."""

K = TypeVar("K")


class Cell(TypedDict):
    """A published count: `count` is None exactly when it is `suppressed`."""

    count: int | None
    suppressed: bool


class Share(TypedDict):
    """A proportion of two published counts, withheld when either count is."""

    share: float | None
    suppressed: bool


class Figure(TypedDict):
    """Any other derived number (a rate, a quantile, a ratio), withheld like its counts."""

    value: float | None
    suppressed: bool


def suppress(count: int, threshold: int = DEFAULT_SUPPRESS_BELOW) -> Cell:
    """The count as it may be published: 1 to threshold-1 could single people out.

    Zero is shown: that nobody is in a cell identifies no one.
    """
    if count < 0:
        raise ValueError(f"a count cannot be negative: {count}")
    hidden = 0 < count < threshold
    return {"count": None if hidden else count, "suppressed": hidden}


def share(part: Cell, whole: Cell) -> Share:
    """part / whole, withheld if either is withheld (else it would give the count back)."""
    if part["suppressed"] or whole["suppressed"]:
        return {"share": None, "suppressed": True}
    numerator, denominator = part["count"], whole["count"]
    if numerator is None or not denominator:
        return {"share": None, "suppressed": False}
    return {"share": round(numerator / denominator, 4), "suppressed": False}


def suppress_group(
    counts: Mapping[K, int],
    threshold: int = DEFAULT_SUPPRESS_BELOW,
    withheld: Collection[K] = (),
) -> dict[K, Cell]:
    """The cells of one breakdown published beside its total, with complementary suppression.

    Withholding one small cell is not enough when the total and the other cells are
    shown: subtraction gives it back. So while the withheld cells are fewer than two or
    add up to less than the threshold, the smallest shown non-zero cell is withheld too.
    `withheld` names cells already withheld for another reason (another breakdown).
    """
    cells = {key: suppress(n, threshold) for key, n in counts.items()}
    for key in withheld:
        if key in cells:
            cells[key] = {"count": None, "suppressed": True}
    while True:
        hidden = [key for key, cell in cells.items() if cell["suppressed"]]
        if not hidden or (len(hidden) >= 2 and sum(counts[k] for k in hidden) >= threshold):
            return cells
        shown = [k for k, cell in cells.items() if not cell["suppressed"] and counts[k] > 0]
        if not shown:
            return cells
        smallest = min(shown, key=lambda k: (counts[k], str(k)))
        cells[smallest] = {"count": None, "suppressed": True}


TOTAL: Final = "total"
"""The key of a margin in `suppress_table`: a row's, a column's, or (both) the grand total."""


def suppress_table(
    counts: Mapping[tuple[str, str], int], threshold: int = DEFAULT_SUPPRESS_BELOW
) -> dict[tuple[str, str], Cell]:
    """A two-way table with its margins, withheld so no line gives a withheld cell back.

    Every row and every column, margin included, is a sum: a line with exactly one
    withheld entry, or withheld cells adding up below the threshold while its margin is
    shown, lets subtraction recover them. So the smallest shown non-zero entry of such a
    line is withheld too, line after line, until no line needs more. The result has the
    cells, `(row, TOTAL)` row totals, `(TOTAL, column)` column totals and `(TOTAL, TOTAL)`.
    """
    if any(TOTAL in key for key in counts):
        raise ValueError(f"{TOTAL!r} names the margins; no row or column may be called that")
    rows = sorted({r for r, _ in counts} | {TOTAL}, key=lambda r: (r == TOTAL, r))
    columns = sorted({c for _, c in counts} | {TOTAL}, key=lambda c: (c == TOTAL, c))
    full: dict[tuple[str, str], int] = {}
    for r in rows:
        for c in columns:
            full[(r, c)] = sum(
                n
                for (row, column), n in counts.items()
                if r in (row, TOTAL) and c in (column, TOTAL)
            )
    lines = [[(r, c) for c in columns] for r in rows] + [[(r, c) for r in rows] for c in columns]
    withheld = {key for key, n in full.items() if 0 < n < threshold}
    changed = True
    while changed:
        changed = False
        for line in lines:
            margin = line[-1]
            hidden = [key for key in line if key in withheld]
            if not hidden or (
                len(hidden) >= 2
                and (margin in withheld or sum(full[k] for k in hidden) >= threshold)
            ):
                continue
            shown = [key for key in line if key not in withheld and full[key] > 0]
            if shown:
                withheld.add(min(shown, key=lambda k: (k == margin, full[k], k)))
                changed = True
    return {
        key: {"count": None, "suppressed": True} if key in withheld else suppress(n, threshold)
        for key, n in full.items()
    }


def figure(value: float | None, suppressed: bool, digits: int = 2) -> Figure:
    """A derived number, or None with the marker when a count it came from is withheld."""
    if suppressed:
        return {"value": None, "suppressed": True}
    return {"value": None if value is None else round(value, digits), "suppressed": False}


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile with linear interpolation, as PostgreSQL's percentile_cont gives it."""
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile lies between 0 and 1, not {q}")
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def duration_summary(
    days: Sequence[float], threshold: int, count: Cell | None = None
) -> dict[str, Any]:
    """Count, median and 90th percentile of durations, withheld together for a small group.

    A median of three people is close to one person's own wait, so it goes with the count
    (`count`, when given, is the count's cell as its breakdown withheld it).
    """
    count = count or suppress(len(days), threshold)
    hidden = count["suppressed"]
    return {
        "count": count,
        "median_days": figure(quantile(days, 0.5), hidden, 1),
        "p90_days": figure(quantile(days, 0.9), hidden, 1),
    }
