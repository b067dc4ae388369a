"""The composition root: the one place that wires settings, stores, Kafka and the domain.

Every dependency the use cases are given can be passed in instead (as cosmicpython's
`bootstrap` takes its unit of work and publishers): a test hands the container an
in-memory event store, key store, idempotency store or disclosure recorder, and the same
wiring runs without PostgreSQL or Kafka. Left out, each is the production adapter, built
on first use; building it connects, importing this module does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from fastapi import FastAPI
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from consumers.projector import Projector
from consumers.prosecution import ProsecutionFeed
from events.base import Role
from events.consent import InformationKind
from events.envelope import CloudEvent, structured_headers
from events.topics import AUDIT
from infra import otel
from infra.audit.chain import StoredEvent
from infra.audit.history import ChainHistory, install_chain, signing_key
from infra.audit.notary import Notary
from infra.clock import Clock
from infra.crypto.master_keys import FileKeyRing, MasterKeys, decode_key, fingerprint, key_ring
from infra.crypto.sealing import KeyStore, PersonSealer
from infra.kafka import security as kafka_security
from infra.kafka.admin import ensure_topics
from infra.kafka.publishing import Publisher
from infra.kafka.relay import (
    RELAY_POSITION_DDL,
    OutboxRelay,
    PostgresRelayPosition,
    Wakeup,
    make_producer,
    unpublished_since,
)
from infra.kafka.topic_reader import read_ranges
from infra.postgres.idempotency_store import IDEMPOTENCY_DDL, PostgresIdempotencyStore
from infra.postgres.key_store import PERSON_KEYS_DDL, PostgresKeyStore, label_legacy_rows
from infra.postgres.position_notices import PositionNotices, install_position_notices
from infra.postgres.projection_schema import ensure_tables
from infra.postgres.roles import apply_grants
from infra.readside.consistency import KafkaMessageTimes, KafkaTopicEnds, ReadYourWrites
from infra.readside.health import Health
from infra.readside.metrics import (
    Counters,
    Gauges,
    ReadSideCollector,
    WorkerCounters,
    age_seconds,
)
from infra.readside.rebuild import Rebuilder
from infra.settings import DbRole, Settings
from projections.agenda.projection import AgendaProjection
from projections.audit import AuditProjection, DisclosureRecords
from projections.base import Projection
from projections.caseloads import CaseloadsProjection
from projections.consents import ConsentsProjection, due_expiries
from projections.evaluation.projection import EvaluationProjection
from projections.liaison.projection import LiaisonProjection
from projections.queue import QueueProjection, due_lapses
from projections.referrals import ReferralsProjection
from services.application import LeadApplication
from services.commands import DisclosureQuestion
from services.http.api import create_api
from services.http.idempotency import IdempotencyMiddleware, IdempotencyPurge, IdempotencyStore
from services.http.limits import BodyLimits
from services.http.notice import RedisclosureNotice
from services.http.routers.context import ApiOptions
from services.http.telemetry import Telemetry, install
from services.http.tracing import Tracing
from services.principals import Principals
from services.timers import Timers


class Container:
    """Builds each part on demand; building it connects, importing this module does not."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        role: DbRole = "app",
        event_store_env: Mapping[str, str] | None = None,
        keys: KeyStore | None = None,
        master_keys: MasterKeys | None = None,
        idempotency_store: IdempotencyStore | None = None,
        record_disclosures: Callable[[list[CloudEvent]], None] | None = None,
        projections: Sequence[Projection] | None = None,
    ) -> None:
        """`role`: the database role this process connects as (infra/postgres/roles.py); the
        DDL of `prepare` and rebuilds connect as the owner whatever it is.

        The rest replace a production adapter: `event_store_env`, eventsourcing's settings
        for the application's store (e.g. ``PERSISTENCE_MODULE=eventsourcing.popo``, in
        memory), instead of the PostgreSQL store; `keys`, people's data keys (infra/crypto/
        sealing.py `KeyStore`); `master_keys`, the key ring; `idempotency_store`, the API's
        Idempotency-Key store; `record_disclosures`, where disclosure records go instead of
        `lead.audit.v1`; `projections`, the views the workers build."""
        self.settings = settings or Settings()
        self.role: DbRole = role
        self._event_store_env = dict(event_store_env) if event_store_env is not None else None
        self._keys = keys
        self._master_keys = master_keys
        self._idempotency_store = idempotency_store
        self._record_disclosures = record_disclosures
        self._projections = list(projections) if projections is not None else None

    @property
    def dsn(self) -> str:
        """This process's connection, as its database role."""
        return self.settings.dsn_for(self.role)

    @property
    def source(self) -> str:
        """CloudEvents `source` of everything this site publishes."""
        return f"urn:lead:site:{self.settings.site_id}"

    @cached_property
    def keys(self) -> KeyStore:
        if self._keys is not None:
            return self._keys
        return PostgresKeyStore(self.dsn, self.master_keys)

    @cached_property
    def master_keys(self) -> MasterKeys:
        """The site's master key ring (infra/crypto/master_keys.py): the environment's keys if
        LEAD_MASTER_KEYS is set, else the key files; made outside production."""
        if self._master_keys is not None:
            return self._master_keys
        return key_ring(
            env_keys=self.settings.master_keys,
            env_current=self.settings.master_key_id,
            directory=self.master_key_dir,
            legacy_file=self.master_key_path,
            create=self.settings.environment != "production",
        )

    @property
    def master_key_path(self) -> Path:
        """The single key file of earlier versions (still in the ring while it exists)."""
        return self.settings.master_key_file or self.settings.data_dir / "master.key"

    @property
    def master_key_dir(self) -> Path:
        return self.settings.master_key_dir or self.settings.data_dir / "master-keys"

    @cached_property
    def application(self) -> LeadApplication:
        """The application, holding people's keys: it seals and opens sensitive fields."""
        return LeadApplication(
            env=self.eventsourcing_env(), sealer=PersonSealer(self.keys), clock=self.clock
        )

    @cached_property
    def clock(self) -> Clock:
        """The server's clock in the site's time zone (a test's offset file moves it)."""
        return Clock(self.settings.site_timezone, offset_file=self.settings.clock_offset_file)

    @cached_property
    def sealed_application(self) -> LeadApplication:
        """The store as the bus sees it: events load with their sensitive fields sealed."""
        return LeadApplication(env=self.eventsourcing_env())

    def eventsourcing_env(self) -> dict[str, str]:
        if self._event_store_env is not None:
            return dict(self._event_store_env)
        return self.settings.model_copy(update={"database_url": self.dsn}).eventsourcing_env()

    @cached_property
    def projections(self) -> list[Projection]:
        if self._projections is not None:
            return self._projections
        return [
            ReferralsProjection(),
            CaseloadsProjection(),
            EvaluationProjection(),
            LiaisonProjection(),
            QueueProjection(),
            ConsentsProjection(),
            AgendaProjection(),
            AuditProjection(),
        ]

    def prepare(self) -> None:
        """Create topics and tables that are missing (idempotent)."""
        ensure_topics(self.settings)
        with psycopg.connect(self.settings.dsn, autocommit=True) as conn:
            ensure_tables(conn, [*self.projections, DisclosureRecords()])
            conn.execute(RELAY_POSITION_DDL)
            install_position_notices(conn)  # after both position tables exist
            conn.execute(IDEMPOTENCY_DDL)
            conn.execute(PERSON_KEYS_DDL)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(4243)")
                LeadApplication(env=self.settings.eventsourcing_env(create_table=True)).close()
            install_chain(conn, self.events_table)
            apply_grants(conn, self.events_table, f"{self.events_table}_append")
        signing_key(self.signing_key_path, create=self.settings.environment != "production")
        ring = self.master_keys  # made here outside production
        if isinstance(ring, FileKeyRing) and self.master_key_path.exists():
            # Rows from before master keys had ids were all wrapped by this one file.
            path = self.master_key_path
            legacy = fingerprint(decode_key(path.read_text(), str(path)))
            with psycopg.connect(self.settings.dsn, autocommit=True) as conn:
                label_legacy_rows(conn, legacy)

    @property
    def events_table(self) -> str:
        """The event store's table (eventsourcing names it after the application)."""
        return f"{LeadApplication.name}_events"

    @property
    def signing_key_path(self) -> Path:
        return self.settings.signing_key_file or self.settings.data_dir / "site-signing-key.pem"

    def history(self, *, with_key: bool = True) -> ChainHistory:
        """The chain, its checkpoints, and the bytes the relay publishes for each event."""
        publisher = Publisher(self.sealed_application.mapper, self.source)

        def published(event: StoredEvent) -> bytes:
            return publisher(event.position, event)[1]

        key = signing_key(self.signing_key_path, create=False) if with_key else None
        return ChainHistory(self.dsn, self.events_table, self.settings.site_id, key, published)

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
            PostgresRelayPosition(self.dsn),
            source=self.source,
            batch_size=self.settings.relay_batch_size,
            idle_seconds=self.settings.relay_idle_seconds,
            wakeup=Wakeup(self.dsn, channel=self.events_table),  # the recorder's NOTIFY
        )

    def consumer_app(self, counters: WorkerCounters | None = None) -> Any:
        from consumers.app import create_app  # faust: imported by the workers' process only

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
            clock=self.clock.now,
            opener=self.opener,
        )
        return create_app(
            feed=feed,
            app_id=self.settings.consumer_group,
            bootstrap_servers=self.settings.bootstrap_servers,
            projector=Projector(self.dsn, self.projections, opener=self.opener, source=self.source),
            read_ranges=functools.partial(read_ranges, self.settings.bootstrap_servers),
            web_port=self.settings.consumer_web_port,
            batch_size=self.settings.consumer_batch_size,
            batch_wait=self.settings.consumer_batch_wait,
            max_attempts=self.settings.consumer_max_attempts,
            credentials=kafka_security.current().faust_credentials(),
            source=self.source,
            counters=counters,
            spans=otel.spans("lead-workers", self.settings.site_id),
        )

    def timers(self) -> Timers:
        """`lead timers`: the clock's lapses and expiries, found in the queue and consents
        views, judged by each referral and consent (services/timers.py)."""
        dsn = self.dsn

        def lapses(today: date) -> list[UUID]:
            with psycopg.connect(dsn, connect_timeout=10) as conn:
                return due_lapses(conn, today=today)

        def expiries(now: datetime) -> list[UUID]:
            with psycopg.connect(dsn, connect_timeout=10) as conn:
                return due_expiries(conn, now=now)

        return Timers(self.application, lapses, expiries)

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
        pool = self.read_pool()
        ends = KafkaTopicEnds(self.settings.bootstrap_servers)
        notices = PositionNotices(self.dsn)
        spans = otel.spans("lead-api", self.settings.site_id)
        health = Health(
            pool, ends, [p.name for p in self.projections], max_lag=self.settings.ready_max_lag
        )

        idempotency = self._idempotency_store or PostgresIdempotencyStore(pool)
        purge = IdempotencyPurge(
            idempotency,
            ttl=timedelta(days=self.settings.idempotency_ttl_days),
            now=lambda: datetime.now(UTC),
        )

        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            pool.open(wait=True)
            purging = asyncio.get_running_loop().create_task(purge.run())
            try:
                yield
            finally:
                purging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purging
                ends.close()
                notices.close()
                spans.close()
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
            read_your_writes=ReadYourWrites(pool, ends, notices).wait,
            readiness=health.readiness,
        )
        api.add_middleware(RedisclosureNotice)  # innermost: replays keep its header
        api.add_middleware(
            IdempotencyMiddleware,
            store=idempotency,
            now=lambda: datetime.now(UTC),
        )
        # Outside idempotency: a refused body claims no Idempotency-Key and is read once.
        api.add_middleware(
            BodyLimits,
            max_body_bytes=self.settings.max_body_bytes,
            max_json_depth=self.settings.max_json_depth,
        )
        install(api, Telemetry(self.read_side_gauges(health)))
        api.add_middleware(
            Tracing, spans=spans
        )  # outermost: all the rest runs in the request's trace
        return api

    def read_side_gauges(self, health: Health, times: KafkaMessageTimes | None = None) -> Gauges:
        """What the API, the relay and every worker export about the read side; with
        `times`, also how old the oldest waiting event is (relay and projections)."""
        recorder = self.application.recorder

        def relay_lag_seconds() -> float:
            waiting = unpublished_since(recorder, health.relay_position())
            return age_seconds(waiting)

        return Gauges(
            events_appended=lambda: recorder.max_notification_id() or 0,
            relay_position=health.relay_position,
            projection_lag=health.projection_lag,
            stuck=health.stuck,
            consumer_errors=health.consumer_errors,
            rebuilds=health.rebuilds,
            relay_lag_seconds=relay_lag_seconds if times is not None else None,
            projection_lag_seconds=(
                functools.partial(health.projection_lag_seconds, times) if times else None
            ),
        )

    def process_metrics(self) -> CollectorRegistry:
        """A registry for the relay or a worker: the read side's figures, each waiting
        event's age included (their connections opened on the first scrape)."""
        pool = ConnectionPool(
            self.dsn,
            min_size=0,
            max_size=2,
            open=True,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
        )
        ends = KafkaTopicEnds(self.settings.bootstrap_servers)
        times = KafkaMessageTimes(self.settings.bootstrap_servers)
        health = Health(
            pool, ends, [p.name for p in self.projections], max_lag=self.settings.ready_max_lag
        )
        registry = CollectorRegistry()
        registry.register(ReadSideCollector(self.read_side_gauges(health, times)))
        return registry

    def relay_metrics(self, relay: OutboxRelay) -> CollectorRegistry:
        registry = self.process_metrics()
        registry.register(
            Counters(
                {
                    "lead_relay_published": ("Events Kafka acknowledged.", lambda: relay.published),
                    "lead_relay_batches": ("Batches Kafka acknowledged.", lambda: relay.batches),
                    "lead_relay_failures": (
                        "Attempts that failed (Kafka or PostgreSQL away) and were retried.",
                        lambda: relay.failures,
                    ),
                }
            )
        )
        return registry

    def audit_recorder(self) -> Callable[[list[CloudEvent]], None]:
        """Publishes disclosure, authentication and checkpoint records to `lead.audit.v1`
        (structured-mode CloudEvents, with their `content-type` header), waiting for
        Kafka's ack."""
        if self._record_disclosures is not None:
            return self._record_disclosures
        producer: list[KafkaProducer] = []

        def record(records: list[CloudEvent]) -> None:
            if not producer:
                producer.append(make_producer(self.settings.bootstrap_servers))
            futures = [
                producer[0].send(
                    AUDIT,
                    key=(r.subject or "").encode(),
                    value=r.to_json(),
                    headers=structured_headers(),
                )
                for r in records
            ]
            for future in futures:
                future.get(timeout=30)

        return record
