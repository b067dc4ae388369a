"""The hash chain's pure rules: how each stored event is linked to the one before it,
and the signed checkpoint that vouches for the chain's hash at a position.

No database, no network. The chain, checkpoint and slice formats are specified for
auditors (who may write their own verifier) in docs/audit.md, "The chain, checkpoints
and slices"; the trigger that computes the chain in PostgreSQL is
`infra.postgres.chain_trigger`, the verifiers `infra.audit.verification` and
`infra.audit.slices`, the key handling `infra.audit.signing_keys`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "GENESIS",
    "HASH_SIZE",
    "Checkpoint",
    "StoredEvent",
    "check_signature",
    "link",
    "sign",
]

GENESIS: bytes = bytes(32)
HASH_SIZE = 32
CHECKPOINT_FORMAT = "lead-checkpoint-v1"


@dataclass(frozen=True)
class StoredEvent:
    """One row of the events table (eventsourcing's `Notification` has the same fields)."""

    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


def _int(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big", signed=True)


def link(previous: bytes, event: StoredEvent) -> bytes:
    """The chain hash of `event` after the chain hash `previous` (docs/audit.md, 1)."""
    if len(previous) != HASH_SIZE:
        raise ValueError(f"a chain hash has {HASH_SIZE} bytes, got {len(previous)}")
    topic = event.topic.encode("utf-8")
    digest = hashlib.sha256(previous)
    digest.update(_int(event.position, 8))
    digest.update(event.originator_id.bytes)
    digest.update(_int(event.originator_version, 8))
    digest.update(_int(len(topic), 4))
    digest.update(topic)
    digest.update(_int(len(event.state), 8))
    digest.update(event.state)
    return digest.digest()


# ---------------------------------------------------------------------------
# Checkpoints


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class Checkpoint:
    """The chain hash at `position`, as of `at`, at `site`; signed by the site's key."""

    position: int
    hash: bytes
    at: datetime
    site: str
    signature: bytes | None = None

    def __post_init__(self) -> None:
        if isinstance(self.position, bool) or not isinstance(self.position, int):
            raise TypeError("a checkpoint's position is an int")
        if self.position < 0:
            raise ValueError("a checkpoint's position is not negative")
        if len(self.hash) != HASH_SIZE:
            raise ValueError(f"a checkpoint's hash has {HASH_SIZE} bytes")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("a checkpoint's time must carry a time zone")
        if not self.site or not self.site.isprintable():
            raise ValueError("a checkpoint's site is a non-empty printable string")
        if self.signature is not None and len(self.signature) != 64:
            raise ValueError("an Ed25519 signature has 64 bytes")
        object.__setattr__(self, "at", self.at.astimezone(UTC))

    def signed_bytes(self) -> bytes:
        """The exact bytes the site signs (the signature itself is not part of them)."""
        return (
            f"{CHECKPOINT_FORMAT}\n"
            f"site={self.site}\n"
            f"position={self.position}\n"
            f"hash={self.hash.hex()}\n"
            f"at={_utc_text(self.at)}\n"
        ).encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "position": self.position,
            "hash": self.hash.hex(),
            "at": _utc_text(self.at),
            "signature": None if self.signature is None else self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """The checkpoint `to_json` wrote; ValueError if `data` is not one."""
        try:
            position, hash_hex, at, site = (data[k] for k in ("position", "hash", "at", "site"))
            signature = data.get("signature")
            if isinstance(position, bool) or not isinstance(position, int):
                raise TypeError("position is not an int")
            if not all(isinstance(v, str) for v in (hash_hex, at, site)):
                raise TypeError("hash, at and site are strings")
            if signature is not None and not isinstance(signature, str):
                raise TypeError("signature is a hex string or null")
            return cls(
                position=position,
                hash=bytes.fromhex(hash_hex),
                at=datetime.fromisoformat(at),
                site=site,
                signature=None if signature is None else bytes.fromhex(signature),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"not a checkpoint: {error}") from error


def sign(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> Checkpoint:
    return replace(checkpoint, signature=private_key.sign(checkpoint.signed_bytes()))


def check_signature(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    if checkpoint.signature is None:
        return False
    try:
        public_key.verify(checkpoint.signature, checkpoint.signed_bytes())
    except InvalidSignature:
        return False
    return True
