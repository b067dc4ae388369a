"""The PostgreSQL stores held to the same contracts as the in-memory ones
(tests/store_contracts.py; the memory side: tests/unit/test_store_contracts.py), on the
PostgreSQL the project starts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import ApplicationRecorder
from psycopg_pool import ConnectionPool

from infra.crypto.sealing import KeyStore
from infra.postgres.event_recorder import PostgresEventRecorder
from infra.postgres.idempotency_store import PostgresIdempotencyStore
from infra.postgres.key_store import PostgresKeyStore
from services.bootstrap import Container
from services.http.idempotency import IdempotencyStore
from tests.store_contracts import EventRecorderContract, IdempotencyStoreContract, KeyStoreContract

pytestmark = pytest.mark.integration


class TestPostgresKeyStore(KeyStoreContract):
    @pytest.fixture(autouse=True)
    def _container(self, container: Container) -> Iterator[None]:
        self.container = container
        self.made: list[PostgresKeyStore] = []
        yield
        for keys in self.made:
            keys.close()

    def make(self) -> KeyStore:
        keys = PostgresKeyStore(self.container.dsn, self.container.master_keys)
        self.made.append(keys)
        return keys


class TestPostgresIdempotencyStore(IdempotencyStoreContract):
    @pytest.fixture(autouse=True)
    def _pool(self, container: Container) -> Iterator[None]:
        self.pool: ConnectionPool[Any] = container.read_pool()
        self.pool.open(wait=True)
        yield
        self.pool.close()

    def make(self) -> IdempotencyStore:
        return PostgresIdempotencyStore(self.pool)


class TestPostgresEventRecorder(EventRecorderContract):
    """The one-statement recorder, each test on a table of its own (the shared store's
    events are read whole by other tests, and these are events no application reads)."""

    @pytest.fixture(autouse=True)
    def _owner(self, container: Container) -> Iterator[None]:
        self.owner = Container(container.settings, role="owner")  # who may create tables
        self.tables: list[PostgresEventRecorder] = []
        yield
        with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
            for recorder in self.tables:
                conn.execute(f"DROP TABLE {recorder.events_table_name}")
                conn.execute(f"DROP FUNCTION {recorder.append_function}")
        self.owner.application.close()

    def make(self) -> ApplicationRecorder:
        shared = self.owner.application.recorder
        assert isinstance(shared, PostgresEventRecorder)
        table = f"contract_{uuid.uuid4().hex[:8]}"
        recorder = PostgresEventRecorder(shared.datastore, events_table_name=table)
        recorder.create_table()
        self.tables.append(recorder)
        return recorder
