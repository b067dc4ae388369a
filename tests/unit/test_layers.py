"""Layered application of a batch's row changes gives what applying them in order gives."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from infra.postgres.projection_store import layers
from projections.base import Delete, Erase, RowChange, Update, Upsert

KEYS = {"t": ("id",), "u": ("a", "b")}
Rows = dict[tuple[str, tuple[Any, ...]], dict[str, Any]]


def apply(rows: Rows, change: RowChange) -> None:
    """The SQL each change becomes (infra/postgres/row_statements.change_statement), in memory."""
    table = change.table
    if isinstance(change, Erase):
        for (t, _), row in rows.items():
            if t == table and all(row.get(k) == v for k, v in change.where.items()):
                row.update(change.values)
        return
    matching = [
        key
        for key, row in rows.items()
        if key[0] == table and all(row.get(k) == v for k, v in change.key.items())
    ]
    if isinstance(change, Delete):
        for key in matching:
            del rows[key]
    elif isinstance(change, Update):
        for key in matching:
            if rows[key]["version"] < change.version:
                rows[key].update(change.values, version=change.version)
    else:
        key = (table, tuple(change.key[k] for k in KEYS[table]))
        if key not in rows:
            rows[key] = {**change.key, **change.values, "version": change.version}
        elif change.version is None or rows[key]["version"] < change.version:
            rows[key].update(change.values, version=change.version)


small = st.integers(0, 3)
t_key = st.builds(lambda i: {"id": i}, small)
u_key = st.builds(lambda a, b: {"a": a, "b": b}, small, small)
values = st.builds(lambda x, y: {"x": x, "color": y}, small, st.sampled_from(["red", "blue"]))
version = st.integers(1, 6)
change = st.one_of(
    st.builds(Upsert, st.just("t"), t_key, values, version),
    st.builds(Upsert, st.just("u"), u_key, values, version),
    st.builds(Update, st.just("t"), t_key, values, version),
    st.builds(Update, st.just("u"), u_key, values, version),
    st.builds(Delete, st.just("t"), t_key),
    st.builds(Delete, st.just("u"), st.builds(lambda a: {"a": a}, small)),  # by part of a key
    st.builds(Erase, st.just("t"), st.just({"color": "red"}), st.just({"x": -1})),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(change, max_size=30), st.randoms(use_true_random=False))
def test_layers_in_any_inner_order_equal_the_changes_in_order(
    changes: list[RowChange], rnd: random.Random
) -> None:
    expected: Rows = {}
    for c in changes:
        apply(expected, c)
    planned = layers(changes, KEYS)
    assert sorted(map(id, (c for layer in planned for c in layer))) == sorted(map(id, changes))
    got: Rows = {}
    for layer in planned:
        shuffled = list(layer)
        rnd.shuffle(shuffled)
        for c in shuffled:
            apply(got, c)
    assert got == expected


def test_a_batch_of_new_rows_and_their_updates_is_two_layers() -> None:
    changes: list[RowChange] = []
    for i in range(100):
        changes.append(Upsert("t", {"id": i}, {"x": 1}, 1))
        changes.append(Update("t", {"id": i}, {"x": 2}, 2))
    planned = layers(changes, KEYS)
    assert [len(layer) for layer in planned] == [100, 100]
    assert all(isinstance(c, Upsert) for c in planned[0])


def test_a_change_matching_many_rows_stands_between_what_came_before_and_after() -> None:
    before = Upsert("t", {"id": 1}, {"color": "red"}, 1)
    erase = Erase("t", {"color": "red"}, {"x": -1})
    after = Upsert("t", {"id": 2}, {"color": "red"}, 1)
    assert layers([before, erase, after], KEYS) == [[before], [erase], [after]]


def test_tables_without_known_keys_are_applied_one_change_at_a_time() -> None:
    changes = [Upsert("t", {"id": i}, {}, 1) for i in range(3)]
    assert layers(changes, {}) == [[c] for c in changes]
