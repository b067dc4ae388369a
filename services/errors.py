"""Errors the services raise; the entrypoints turn them into answers."""

from __future__ import annotations

from aggregates.base import ChangedSinceError, ConcurrencyError, DomainError


class NotFoundError(LookupError):
    """Nothing with that id (or nothing the caller may know of)."""


__all__ = ["ChangedSinceError", "ConcurrencyError", "DomainError", "NotFoundError"]
