"""Errors the services raise; the entrypoints turn them into answers."""

from __future__ import annotations

from aggregates.base import DomainError


class NotFoundError(LookupError):
    """Nothing with that id (or nothing the caller may know of)."""


class ConcurrencyError(Exception):
    """Someone else changed the record first: reload and retry."""


__all__ = ["ConcurrencyError", "DomainError", "NotFoundError"]
