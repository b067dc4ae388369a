"""The composition root: the one place that wires settings, stores, Kafka and the domain."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from fastapi import FastAPI
from kafka import KafkaProducer
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from events.envelope import CloudEvent
from events.topics import AUDIT
from infra.chain import StoredEvent
from infra.history import History, install_chain, signing_key
from infra.idempotency_store import IDEMPOTENCY_DDL
from infra.kafka_admin import ensure_topics
from infra.notary import Notary
from infra.pg_roles import apply_grants
from infra.projection_store import ensure_tables
from infra.publishing import Publisher
from infra.rebuild import Rebuilder
from infra.relay import (
    RELAY_POSITION_DDL,
    OutboxRelay,
    RelayPosition,
    Wakeup,
    make_producer,
)
from infra.sealing import PERSON_KEYS_DDL, PersonSealer, PostgresKeyStore, master_key
from infra.settings import DbRole, Settings
from projections.agenda import AgendaProjection
from projections.audit import AuditProjection, DisclosureRecords
from projections.base import Projection
from projections.caseloads import CaseloadsProjection
from projections.evaluation import EvaluationProjection
from projections.liaison import LiaisonProjection
from projections.queue import QueueProjection
from projections.referrals import ReferralsProjection
from services.application import LeadApplication


class Container:
    """Builds each part on demand; building it connects, importing this module does not."""

    def __init__(self, settings: Settings | None = None, *, role: DbRole = "app") -> None:
        """`role`: the database role this process connects as (infra/pg_roles.py); the
        DDL of `prepare` and rebuilds connect as the owner whatever it is."""
        self.settings = settings or Settings()
        self.role: DbRole = role

    @property
    def dsn(self) -> str:
        """This process's connection, as its database role."""
        return self.settings.dsn_for(self.role)

    @property
    def source(self) -> str:
        """CloudEvents `source` of everything this site publishes."""
        return f"urn:lead:site:{self.settings.site_id}"

    @cached_property
    def keys(self) -> PostgresKeyStore:
        return PostgresKeyStore(
            self.dsn,
            master_key(self.master_key_path, create=self.settings.environment != "production"),
        )

    @property
    def master_key_path(self) -> Path:
        return self.settings.master_key_file or self.settings.data_dir / "master.key"

    @cached_property
    def application(self) -> LeadApplication:
        """The application, holding people's keys: it seals and opens sensitive fields."""
        return LeadApplication(env=self.eventsourcing_env(), sealer=PersonSealer(self.keys))

    @cached_property
    def sealed_application(self) -> LeadApplication:
        """The store as the bus sees it: events load with their sensitive fields sealed."""
        return LeadApplication(env=self.eventsourcing_env())

    def eventsourcing_env(self) -> dict[str, str]:
        return self.settings.model_copy(update={"database_url": self.dsn}).eventsourcing_env()

    @cached_property
    def projections(self) -> list[Projection]:
        return [
            ReferralsProjection(),
            CaseloadsProjection(),
            EvaluationProjection(),
            LiaisonProjection(),
            QueueProjection(),
            AgendaProjection(),
            AuditProjection(),
        ]

    def prepare(self) -> None:
        """Create topics and tables that are missing (idempotent)."""
        ensure_topics(self.settings)
        with psycopg.connect(self.settings.dsn, autocommit=True) as conn:
            ensure_tables(conn, [*self.projections, DisclosureRecords()])
            conn.execute(RELAY_POSITION_DDL)
            conn.execute(IDEMPOTENCY_DDL)
            conn.execute(PERSON_KEYS_DDL)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(4243)")
                LeadApplication(env=self.settings.eventsourcing_env(create_table=True)).close()
            install_chain(conn, self.events_table)
            apply_grants(conn, self.events_table, f"{self.events_table}_append")
        signing_key(self.signing_key_path, create=self.settings.environment != "production")
        master_key(self.master_key_path, create=self.settings.environment != "production")

    @property
    def events_table(self) -> str:
        """The event store's table (eventsourcing names it after the application)."""
        return f"{LeadApplication.name}_events"

    @property
    def signing_key_path(self) -> Path:
        return self.settings.signing_key_file or self.settings.data_dir / "site-signing-key.pem"

    def history(self, *, with_key: bool = True) -> History:
        """The chain, its checkpoints, and the bytes the relay publishes for each event."""
        publisher = Publisher(self.sealed_application.mapper, self.source)

        def published(event: StoredEvent) -> bytes:
            return publisher(event.position, event)[1]

        key = signing_key(self.signing_key_path, create=False) if with_key else None
        return History(self.dsn, self.events_table, self.settings.site_id, key, published)

    @property
    def opener(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """Opens sealed fields a view may hold (progress summaries), with the person's key."""
        return PersonSealer(self.keys).open

    def rebuilder(
        self,
        *projections: Projection,
        as_of: datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Rebuilder:
        return Rebuilder(
            dsn=self.settings.dsn,
            bootstrap_servers=self.settings.bootstrap_servers,
            projections=projections,
            as_of=as_of,
            progress=progress,
            opener=self.opener,
        )

    def notary(self) -> Notary:
        return Notary(
            self.history(),
            self.audit_recorder(),
            source=self.source,
            interval_seconds=self.settings.checkpoint_interval_seconds,
        )

    def relay(self) -> OutboxRelay:
        app = self.sealed_application  # publishes the ciphertext, never opens it
        return OutboxRelay(
            app.recorder,
            app.mapper,
            make_producer(self.settings.bootstrap_servers),
            RelayPosition(self.dsn),
            source=self.source,
            batch_size=self.settings.relay_batch_size,
            idle_seconds=self.settings.relay_idle_seconds,
            wakeup=Wakeup(self.dsn, channel=self.events_table),  # the recorder's NOTIFY
        )

    def consumer_app(self) -> Any:
        from consumers.app import create_app
        from consumers.projector import Projector
        from consumers.prosecution import ProsecutionFeed
        from events.base import Role
        from events.consent import InformationKind
        from infra.topic_reader import read_ranges
        from services.commands import DisclosureQuestion

        app = self.application

        def consent(
            person: UUID, organisation: str, role: Role, kind: InformationKind, at: datetime
        ) -> UUID | None:
            found = app.consent_for_disclosure(
                DisclosureQuestion(
                    person_id=person,
                    recipient_organisation=organisation,
                    recipient_role=role,
                    kind=kind,
                    at=at,
                )
            )
            return found.id if found else None

        feed = ProsecutionFeed(
            consent,
            recipient_organisation=self.settings.prosecutor_organisation,
            source=self.source,
        )
        return create_app(
            feed=feed,
            app_id=self.settings.consumer_group,
            bootstrap_servers=self.settings.bootstrap_servers,
            projector=Projector(self.dsn, self.projections, opener=self.opener),
            read_ranges=functools.partial(read_ranges, self.settings.bootstrap_servers),
            web_port=self.settings.consumer_web_port,
            batch_size=self.settings.consumer_batch_size,
            batch_wait=self.settings.consumer_batch_wait,
            max_attempts=self.settings.consumer_max_attempts,
        )

    def read_pool(self) -> ConnectionPool[Any]:
        """The API's connections for reads, health and idempotency keys (opened by the API).

        Each is checked as it is handed out (an empty query): one PostgreSQL has closed
        (a restart, a failover) is replaced instead of failing the request with a 500.
        """
        return ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=10,
            open=False,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
            # Reads set a dict row factory on the connection: back to tuples when returned.
            reset=lambda conn: setattr(conn, "row_factory", tuple_row),
        )

    def api(self) -> FastAPI:
        from infra.consistency import ReadYourWrites, TopicEnds
        from infra.health import Health
        from infra.idempotency_store import PostgresIdempotencyStore
        from services.api import ApiOptions, create_api
        from services.idempotency import IdempotencyMiddleware
        from services.limits import BodyLimits
        from services.principals import Principals
        from services.telemetry import Gauges, Telemetry, install

        pool = self.read_pool()
        ends = TopicEnds(self.settings.bootstrap_servers)
        health = Health(
            pool, ends, [p.name for p in self.projections], max_lag=self.settings.ready_max_lag
        )

        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            pool.open(wait=True)
            try:
                yield
            finally:
                ends.close()
                pool.close()
                self.application.close()

        api = create_api(
            self.application,
            pool,
            Principals(self.application),
            lifespan=lifespan,
            options=ApiOptions(
                suppress_below=self.settings.suppress_below,
                equity_baseline=self.settings.equity_baseline,
                source=self.source,
                read_timeout=self.settings.read_timeout_seconds,
                bootstrap_servers=self.settings.bootstrap_servers,
                auth_failure_limit=self.settings.auth_failure_limit,
                auth_failure_window=self.settings.auth_failure_window_seconds,
            ),
            record_disclosures=self.audit_recorder(),
            read_your_writes=ReadYourWrites(pool, ends).wait,
            readiness=health.readiness,
        )
        api.add_middleware(
            IdempotencyMiddleware,
            store=PostgresIdempotencyStore(pool),
            now=lambda: datetime.now(UTC),
        )
        # Outside idempotency: a refused body claims no Idempotency-Key and is read once.
        api.add_middleware(
            BodyLimits,
            max_body_bytes=self.settings.max_body_bytes,
            max_json_depth=self.settings.max_json_depth,
        )
        install(
            api,
            Telemetry(
                Gauges(
                    events_appended=lambda: self.application.recorder.max_notification_id() or 0,
                    relay_position=health.relay_position,
                    projection_lag=health.projection_lag,
                    stuck=health.stuck,
                    consumer_errors=health.consumer_errors,
                )
            ),
        )
        return api

    def audit_recorder(self) -> Callable[[list[CloudEvent]], None]:
        """Publishes disclosure records to `lead.audit.v1`, waiting for Kafka's ack."""
        producer: list[KafkaProducer] = []

        def record(records: list[CloudEvent]) -> None:
            if not producer:
                producer.append(make_producer(self.settings.bootstrap_servers))
            futures = [
                producer[0].send(AUDIT, key=(r.subject or "").encode(), value=r.to_json())
                for r in records
            ]
            for future in futures:
                future.get(timeout=30)

        return record
