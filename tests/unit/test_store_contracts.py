"""The in-memory stores the unit tests use, held to the contracts in tests/store_contracts.py
that the PostgreSQL stores meet too (tests/integration/test_store_contracts.py)."""

from __future__ import annotations

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.popo import POPOApplicationRecorder

from infra.crypto.master_keys import MemoryKeyRing, fingerprint, new_key
from infra.crypto.sealing import KeyStore, MemoryKeyStore, WrappedMemoryKeyStore
from services.http.idempotency import IdempotencyStore
from tests.store_contracts import (
    EventRecorderContract,
    IdempotencyStoreContract,
    KeyStoreContract,
    MemoryIdempotencyStore,
)


class TestMemoryKeyStore(KeyStoreContract):
    def make(self) -> KeyStore:
        return MemoryKeyStore()


class TestWrappedMemoryKeyStore(KeyStoreContract):
    def make(self) -> KeyStore:
        key = new_key()
        return WrappedMemoryKeyStore(MemoryKeyRing({fingerprint(key): key}, fingerprint(key)))


class TestMemoryIdempotencyStore(IdempotencyStoreContract):
    def make(self) -> IdempotencyStore:
        return MemoryIdempotencyStore()


class TestPOPORecorder(EventRecorderContract):
    """eventsourcing's in-memory recorder, which the unit tests' applications run on."""

    def make(self) -> ApplicationRecorder:
        return POPOApplicationRecorder()
