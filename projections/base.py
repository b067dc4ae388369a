"""The shape every projection has: a name, its tables, and a pure `handle`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from psycopg import sql

from events.base import DomainEvent


@dataclass(frozen=True)
class Upsert:
    """Insert the row, or update it; `version` guards against applying an older event."""

    table: str
    key: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    version: int | None = None


@dataclass(frozen=True)
class Update:
    """Change some columns of an existing row, if `version` is newer than the row's."""

    table: str
    key: dict[str, Any]
    values: dict[str, Any]
    version: int


@dataclass(frozen=True)
class Delete:
    table: str
    key: dict[str, Any]


@dataclass(frozen=True)
class Erase:
    """Overwrite columns of every row matching `where` (a forgotten person's free text).

    No version guard: the values are constants, so applying it again changes nothing."""

    table: str
    where: dict[str, Any]
    values: dict[str, Any]


RowChange = Upsert | Update | Delete | Erase


@dataclass(frozen=True)
class Table:
    """A projection table: its name, column definitions and primary key."""

    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    versioned: bool = True


def schema_of(projection: str) -> str:
    """Each projection's tables live in a PostgreSQL schema of their own."""
    return f"proj_{projection}"


def reads_sealed(projections: Sequence[Projection]) -> tuple[type[DomainEvent], ...]:
    """The event types whose sealed fields these projections read (`reads_sealed`).

    Only those are opened: opening costs a key look-up per event."""
    return tuple(t for p in projections for t in getattr(p, "reads_sealed", ()))


class Projection(Protocol):
    name: str
    tables: Sequence[Table]

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        """The row changes this event implies. No I/O."""
        ...


def keyset_after(
    key: Sequence[sql.Composable], types: Sequence[str], after: Sequence[Any] | None
) -> tuple[sql.Composable, dict[str, Any]]:
    """The condition that keeps the rows after a page's last key, `ROW(key) > ROW(after)`
    (keyset pagination: the database seeks to it along the ORDER BY, nothing before it is
    read), with `after`'s values cast to `types`; TRUE for the first page. The key's
    parts are the ORDER BY's, none of them NULL."""
    if after is None:
        return sql.SQL("TRUE"), {}
    names = [f"after_{i}" for i in range(len(types))]
    condition = sql.SQL("ROW({}) > ROW({})").format(
        sql.SQL(", ").join(key),
        sql.SQL(", ").join(
            sql.SQL(t if "{}" in t else "{}::" + t).format(sql.Placeholder(n))
            for n, t in zip(names, types, strict=True)
        ),
    )
    return condition, dict(zip(names, after, strict=True))


def limit_clause(limit: int | None) -> sql.Composable:
    return sql.SQL("") if limit is None else sql.SQL(" LIMIT {}").format(sql.Literal(limit))
