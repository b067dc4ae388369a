"""Renders the SQL of projection row changes: one change, many changes of one shape in
one statement, and the column types that statement casts its values to."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from projections.base import Delete, Erase, RowChange, Table, Update, Upsert


def _ident(*names: str) -> str:
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


@functools.lru_cache(maxsize=4096)
def _statement(
    kind: str,
    schema: str,
    table: str,
    key: tuple[str, ...],
    values: tuple[str, ...],
    versioned: bool,
    returning: bool,
) -> str:
    """The SQL of one change shape, rendered once: the same string each time lets
    psycopg prepare it on the server after a few uses."""
    target = _ident(schema, table)
    where = " AND ".join(f"{_ident(k)} = %s" for k in key)
    if kind == "erase":
        sets = ", ".join(f"{_ident(k)} = %s" for k in values)
        text = f"UPDATE {target} SET {sets} WHERE {where}"
    elif kind == "delete":
        text = f"DELETE FROM {target} WHERE {where}"
    elif kind == "update":
        sets = ", ".join(f"{_ident(k)} = %s" for k in (*values, "version"))
        text = f"UPDATE {target} SET {sets} WHERE {where} AND version < %s"
    else:
        names = (*key, *values, *(("version",) if versioned else ()))
        text = _upsert(target, key, names, versioned, f"VALUES ({', '.join(['%s'] * len(names))})")
    return text + (" RETURNING *" if returning else "")


def _upsert(
    target: str, key: tuple[str, ...], names: tuple[str, ...], versioned: bool, rows: str
) -> str:
    """`INSERT ... ON CONFLICT` of `rows` (a VALUES list or a query) into `names`: a row
    already there takes the new values, unless it has a newer version."""
    updates = [n for n in names if n not in key]
    text = (
        f"INSERT INTO {target} AS t ({', '.join(map(_ident, names))}) {rows} "
        f"ON CONFLICT ({', '.join(map(_ident, key))}) "
    )
    if not updates:
        return text + "DO NOTHING"
    text += "DO UPDATE SET " + ", ".join(f"{_ident(n)} = EXCLUDED.{_ident(n)}" for n in updates)
    return text + (" WHERE t.version < EXCLUDED.version" if versioned else "")


def change_statement(
    change: RowChange, schema: str, *, returning: bool = False
) -> tuple[str, list[Any]]:
    """The statement and parameters that apply `change` to its table in `schema`."""
    if isinstance(change, Erase):
        text = _statement(
            "erase",
            schema,
            change.table,
            tuple(change.where),
            tuple(change.values),
            False,
            returning,
        )
        return text, [*change.values.values(), *change.where.values()]
    if isinstance(change, Delete):
        text = _statement("delete", schema, change.table, tuple(change.key), (), False, returning)
        return text, list(change.key.values())
    if isinstance(change, Update):
        text = _statement(
            "update", schema, change.table, tuple(change.key), tuple(change.values), True, returning
        )
        return text, [
            *change.values.values(),
            change.version,
            *change.key.values(),
            change.version,
        ]
    assert isinstance(change, Upsert)
    row = {**change.key, **change.values}
    versioned = change.version is not None
    columns = tuple(n for n in row if n not in change.key)
    text = _statement(
        "upsert", schema, change.table, tuple(change.key), columns, versioned, returning
    )
    params = list(row.values())
    if versioned:
        params.append(change.version)
    return text, params


_CONSTRAINT = re.compile(
    r"\s+(?:NOT\s+NULL|NULL|DEFAULT|PRIMARY|UNIQUE|CHECK|REFERENCES|GENERATED|COLLATE)\b.*$",
    re.IGNORECASE | re.DOTALL,
)


def column_types(tables: Iterable[Table]) -> dict[str, dict[str, str]]:
    """Each table's column types (`text NOT NULL` -> `text`), with the version column
    `table_ddl` adds: what a statement applying many changes at once (`many_statement`)
    casts each value to."""
    types: dict[str, dict[str, str]] = {}
    for table in tables:
        columns = {name: _CONSTRAINT.sub("", kind).strip() for name, kind in table.columns.items()}
        if table.versioned:
            columns["version"] = "integer"
        types[table.name] = columns
    return types


@functools.lru_cache(maxsize=1024)
def _many_statement(
    kind: str,
    schema: str,
    table: str,
    key: tuple[str, ...],
    values: tuple[str, ...],
    types: tuple[str, ...],
    versioned: bool,
    returning: bool,
) -> str:
    """One statement applying a group of same-shaped changes, whose rows come as one
    JSON array of arrays (`many_statement`): the same text whatever the group's size.

    `types` are the SQL types of (*key, *values, version if versioned), in that order.
    The rows of a group are distinct (`layers`), so the order they apply in is immaterial."""
    target = _ident(schema, table)
    names = (*key, *values, *(("version",) if versioned else ()))
    rows = (
        "SELECT "
        + ", ".join(
            f"(r.e->>{i})::{kind_} AS {_ident(n)}"
            for i, (n, kind_) in enumerate(zip(names, types, strict=True))
        )
        + " FROM jsonb_array_elements(%s::jsonb) AS r(e)"
    )
    match = " AND ".join(f"t.{_ident(k)} = v.{_ident(k)}" for k in key)
    back = " RETURNING t.*" if returning else ""
    if kind == "delete":
        return f"DELETE FROM {target} AS t USING ({rows}) AS v WHERE {match}{back}"
    if kind == "update":
        sets = ", ".join(f"{_ident(n)} = v.{_ident(n)}" for n in (*values, "version"))
        return (
            f"UPDATE {target} AS t SET {sets} FROM ({rows}) AS v "
            f"WHERE {match} AND t.version < v.version{back}"
        )
    assert kind == "upsert"
    return _upsert(target, key, names, versioned, rows) + (" RETURNING *" if returning else "")


Shape = tuple[str, str, tuple[str, ...], tuple[str, ...], bool]
"""A change's kind, table, key columns, value columns and whether it carries a version."""


def shape_of(change: RowChange) -> Shape | None:
    """What changes must share to go in one statement; None for those that go alone."""
    if isinstance(change, Upsert):
        return (
            "upsert",
            change.table,
            tuple(change.key),
            tuple(n for n in change.values if n not in change.key),
            change.version is not None,
        )
    if isinstance(change, Update):
        return ("update", change.table, tuple(change.key), tuple(change.values), True)
    if isinstance(change, Delete):
        return ("delete", change.table, tuple(change.key), (), False)
    return None


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: a number kept exact, as text."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def _json_text(value: Any) -> str | None:
    """A jsonb column's value as the JSON text the column is to hold (text is taken as
    JSON already, as PostgreSQL takes a text parameter)."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value.obj if isinstance(value, Jsonb) else value, default=_plain).decode()


def many_statement(
    shape: Shape,
    changes: Sequence[RowChange],
    schema: str,
    types: Mapping[str, Mapping[str, str]],
    *,
    returning: bool = False,
) -> tuple[str, tuple[str]] | None:
    """The statement and its one parameter, every change's row in one JSON document,
    that apply `changes` (all of `shape`, each to a distinct row) at once.

    Each value goes as JSON text and is cast to its column's type in PostgreSQL, as
    a parameter of a single statement is. None when the changes cannot go together:
    a column type unknown or an array type, or a value JSON cannot carry."""
    kind, table, key, values, versioned = shape
    names = (*key, *values, *(("version",) if versioned else ()))
    known = types.get(table, {})
    if any(n not in known or known[n].endswith("]") for n in names):
        return None
    as_json = [i for i, n in enumerate(names) if known[n] in ("json", "jsonb")]
    rows: list[list[Any]] = []
    for change in changes:
        if isinstance(change, Delete):
            row = list(change.key.values())
        elif isinstance(change, Update):
            row = [*change.key.values(), *change.values.values(), change.version]
        else:
            assert isinstance(change, Upsert)
            row = [*change.key.values(), *(change.values[n] for n in values)]
            if versioned:
                row.append(change.version)
        for i in as_json:
            row[i] = _json_text(row[i])
        rows.append(row)
    try:
        document = orjson.dumps(rows, default=_plain).decode()
    except TypeError:
        return None
    text = _many_statement(
        kind, schema, table, key, values, tuple(known[n] for n in names), versioned, returning
    )
    return text, (document,)
