"""Errors the services raise; the entrypoints turn them into answers."""

from __future__ import annotations

from aggregates.base import DomainError


class NotFoundError(LookupError):
    """Nothing with that id (or nothing the caller may know of)."""


class ConcurrencyError(Exception):
    """Someone else changed the record first: reload and retry."""


class ChangedSinceError(Exception):
    """A save was to find an aggregate unchanged since a version (the site policy a
    command was judged under) and it had changed: nothing was saved."""


__all__ = ["ChangedSinceError", "ConcurrencyError", "DomainError", "NotFoundError"]
