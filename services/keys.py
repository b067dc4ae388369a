"""The site's master keys: status, rotation and retirement (`lead keys`).

A rotation brings in a new master key (or, with a ring the backend cannot write, such
as the environment's, takes the one the operator made current), makes it current and
rewraps every person's data key with it while the backend runs; the data keys stay
the same, so everything sealed before opens as it did, and the stored events, and so
the chain, are not touched. A master key no data key is wrapped by any more can then
be retired: removed from the ring, for good. Both are recorded as events (ids and
counts only, never key material), so the audit trail says who rotated or retired
which key, and when.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aggregates.key_ring import KeyRing, key_ring_id
from events.base import Actor
from services.application import LeadApplication
from services.errors import DomainError


class Ring(Protocol):
    def current_id(self) -> str: ...
    def ids(self) -> tuple[str, ...]: ...


@runtime_checkable
class WritableRing(Protocol):
    """A ring the backend keeps itself (the key files): it can take a new key."""

    def current_id(self) -> str: ...
    def ids(self) -> tuple[str, ...]: ...
    def id_for(self, key: bytes) -> str: ...
    def add(self, key: bytes) -> str: ...
    def make_current(self, key_id: str) -> None: ...
    def remove(self, key_id: str) -> None: ...


class Counts(Protocol):
    @property
    def wrapped(self) -> dict[str | None, int]: ...
    @property
    def destroyed(self) -> int: ...


class Rewrap(Protocol):
    @property
    def count(self) -> int: ...
    @property
    def from_key_ids(self) -> tuple[str, ...]: ...


@runtime_checkable
class Store(Protocol):
    """A key store that can count and rewrap its data keys (PostgresKeyStore does)."""

    def counts(self) -> Counts: ...
    def wrapped_by(self, key_id: str) -> int: ...
    def rewrap_all(
        self,
        to_key_id: str,
        *,
        batch_size: int = ...,
        progress: Callable[[int, int], None] | None = ...,
    ) -> Rewrap: ...


class MasterKeyInUseError(DomainError):
    """A master key still wraps data keys (or is current): it cannot be retired."""


@dataclass(frozen=True)
class KeyStatus:
    current: str
    ids: tuple[str, ...]
    wrapped: dict[str | None, int]  # data keys per master key id (None: unlabelled)
    destroyed: int
    retired: tuple[str, ...]  # as recorded
    writable: bool


@dataclass(frozen=True)
class Rotation:
    to_key_id: str
    from_key_ids: tuple[str, ...]
    rewrapped: int
    position: int  # of the recorded event; 0 if there was nothing to record


class MasterKeyAdmin:
    def __init__(self, application: LeadApplication, ring: Ring, store: Store) -> None:
        self.app = application
        self.ring = ring
        self.store = store

    def _recorded(self) -> KeyRing | None:
        found = self.app._find(key_ring_id(self.app.site_id))
        return found if isinstance(found, KeyRing) else None

    def _ring_for(self, actor: Actor, current: str) -> KeyRing:
        return self._recorded() or KeyRing.open(
            site_id=self.app.site_id, actor=actor, current_key_id=current
        )

    def status(self) -> KeyStatus:
        counts = self.store.counts()
        recorded = self._recorded()
        return KeyStatus(
            current=self.ring.current_id(),
            ids=self.ring.ids(),
            wrapped=dict(counts.wrapped),
            destroyed=counts.destroyed,
            retired=tuple(sorted(recorded.retired)) if recorded else (),
            writable=isinstance(self.ring, WritableRing),
        )

    def rotate(
        self,
        *,
        actor: Actor,
        new_key: bytes | None,
        batch_size: int = 500,
        settle_seconds: float = 1.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> Rotation:
        """`new_key`: put it in the ring and make it current first (a writable ring);
        None: rewrap onto the ring's current key (the environment's ring, or finishing
        a rotation that was cut short). After the rewrap, once more `settle_seconds`
        later: a process that made a data key just as the current key changed (with
        the old one) has stored it by then."""
        before = self.ring.current_id()
        recorded = self._recorded()
        retired = recorded.retired if recorded is not None else set()
        if new_key is not None:
            if not isinstance(self.ring, WritableRing):
                raise DomainError(
                    "this key ring is read from LEAD_MASTER_KEYS: add the new key there and "
                    "name it in LEAD_MASTER_KEY_ID (docs/security.md, Keys), then run "
                    "`lead keys rotate --no-new-key`"
                )
            if self.ring.id_for(new_key) in retired:
                raise DomainError("that master key was retired: it is never current again")
            self.ring.make_current(self.ring.add(new_key))
        target = self.ring.current_id()
        if target in retired:
            raise DomainError(f"master key {target} was retired: it is never current again")
        done = self.store.rewrap_all(target, batch_size=batch_size, progress=progress)
        count, sources = done.count, set(done.from_key_ids)
        if settle_seconds > 0:
            time.sleep(settle_seconds)
            late = self.store.rewrap_all(target, batch_size=batch_size)
            count, sources = count + late.count, sources | set(late.from_key_ids)
        sources = (sources | {before}) - {target}
        unchanged = target == before and (recorded is None or recorded.current_key_id == target)
        if count == 0 and unchanged:
            return Rotation(target, (), 0, 0)  # nothing changed: nothing to record
        ring = self._ring_for(actor, before)
        ring.rotated(actor=actor, to_key_id=target, from_key_ids=sorted(sources), rewrapped=count)
        return Rotation(target, tuple(sorted(sources)), count, self.app._save(ring))

    def retire(self, *, actor: Actor, key_id: str, reason: str) -> int:
        """Remove a master key from the ring, once no data key is wrapped by it; the
        position of the recorded event."""
        if key_id == self.ring.current_id():
            raise MasterKeyInUseError(
                f"master key {key_id} is current: rotate to a new one first (`lead keys rotate`)"
            )
        if key_id not in self.ring.ids():
            raise DomainError(
                f"no master key {key_id} in the key ring (it holds {', '.join(self.ring.ids())})"
            )
        left = self.store.wrapped_by(key_id)
        if left:
            raise MasterKeyInUseError(
                f"{left} data keys are still wrapped by master key {key_id} (or by no known "
                "key): run `lead keys rotate --no-new-key` to rewrap them, then retire it"
            )
        ring = self._ring_for(actor, self.ring.current_id())
        ring.retire(actor=actor, key_id=key_id, reason=reason)
        position = self.app._save(ring)
        if isinstance(self.ring, WritableRing):
            self.ring.remove(key_id)
        return position
