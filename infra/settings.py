"""One validated settings object for the whole backend (environment prefix ``LEAD_``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything the backend can be told; read once by the composition root."""

    model_config = SettingsConfigDict(env_prefix="LEAD_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    site_id: str = Field("lead-site", description="Names this site in CloudEvents' source.")

    # External services. When set, nothing local is started for that service.
    kafka_bootstrap: str | None = None
    database_url: str | None = None

    # The local stack started by `lead infra up`.
    data_dir: Path = PROJECT_ROOT / ".lead"
    cache_dir: Path = PROJECT_ROOT / ".lead" / "cache"
    kafka_port: int = 59092
    kafka_controller_port: int = 59093
    kafka_brokers: int = Field(
        1,
        ge=1,
        le=5,
        description="How many local KRaft nodes (each broker and controller) `lead infra up` "
        "starts: node i listens on kafka_port + 2i and kafka_controller_port + 2i. From 3 "
        "on, topics default to replication factor 3 and min.insync.replicas 2.",
    )
    kafka_heap: str = "768m"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = Field(
        "SASL_SSL",
        description="How clients (and the local brokers' listeners) talk to Kafka: SASL_SSL "
        "is TLS with a SCRAM credential per component; PLAINTEXT only for a throwaway stack.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_ca_file: Path | None = Field(
        None,
        description="The CA (PEM) Kafka's certificates are checked against; default the "
        "local site CA, <data_dir>/pki/ca.crt.",
    )
    kafka_user: str | None = Field(
        None,
        description="The one SASL user of every component (external clusters); unset, "
        "each component is lead-<component> with its password under <data_dir>/kafka.",
    )
    kafka_password_file: Path | None = Field(
        None, description="A file holding kafka_user's password (external clusters)."
    )
    pg_port: int = 55432

    # Topics.
    topic_partitions: int = Field(6, ge=1)
    topic_replication_factor: int = Field(1, ge=1)
    topic_min_insync_replicas: int = Field(1, ge=1)

    # Processes.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    relay_batch_size: int = Field(2000, ge=1, le=10_000)
    relay_idle_seconds: float = Field(0.2, gt=0)
    consumer_batch_size: int = Field(500, ge=1, le=10_000)
    consumer_batch_wait: float = Field(
        0.01,
        gt=0,
        le=5,
        description="Seconds a worker's agent waits for its batch to fill before applying "
        "what it has: longer gives bigger batches (less work per event), shorter less latency.",
    )
    consumer_max_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="How often a worker tries a batch (or, once narrowed down, a message) "
        "that fails transiently (serialization failure, deadlock, statement or lock "
        "timeout) before it dead-letters the message; PostgreSQL unreachable or out of "
        "resources is waited out however long it lasts.",
    )
    stop_within: float = Field(
        15.0,
        gt=0,
        le=600,
        description="Seconds the relay or a worker told to stop has to stop cleanly before "
        "it exits anyway (with Kafka or PostgreSQL unreachable, their clients retry for "
        "minutes).",
    )
    signing_key_file: Path | None = Field(
        None,
        description="The site's Ed25519 key (PEM) that signs chain checkpoints; "
        "default <data_dir>/site-signing-key.pem, made on first start outside production.",
    )
    master_key_file: Path | None = Field(
        None,
        description="The site's master key (32 bytes, base64) that wraps each person's data "
        "key; default <data_dir>/master.key, made on first start outside production.",
    )
    retention_days_after_exit: int | None = Field(
        None,
        ge=1,
        description="Participant-level data is forgotten this many days after exit "
        "(`lead privacy retain`); unset keeps it.",
    )
    checkpoint_interval_seconds: float = Field(
        300.0, gt=0, description="How often the relay signs and publishes a chain checkpoint."
    )
    ready_max_lag: int = Field(
        10_000, ge=0, description="/readyz fails while a projection is further behind than this."
    )
    read_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a read with min_position waits for the view."
    )
    max_body_bytes: int = Field(
        65_536, ge=1024, description="Request bodies larger than this are refused (413)."
    )
    max_json_depth: int = Field(
        32, ge=2, description="JSON bodies nested deeper than this are refused (422)."
    )
    auth_failure_limit: int = Field(
        10,
        ge=1,
        description="Failed authentications from one address within "
        "auth_failure_window_seconds after which it is refused (429) until the window ends.",
    )
    auth_failure_window_seconds: float = Field(
        60.0, gt=0, description="The window auth_failure_limit counts failures in."
    )
    consumer_group: str = "lead-projections"
    consumer_web_port: int = 6066

    prosecutor_organisation: str = Field(
        "Prosecuting Attorney's Office",
        description="The liaison prosecutor's organisation, as consents name it.",
    )

    # Evaluation: de-identified figures only, small cells suppressed.
    suppress_below: int = Field(11, ge=1, description="Counts 1..N-1 are reported as hidden.")
    equity_baseline: dict[str, int] = Field(
        default_factory=dict,
        description="Eligible arrests by race, the baseline referrals are compared with "
        '(JSON, e.g. {"black": 410, "white": 530}).',
    )

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value if value.is_absolute() else (PROJECT_ROOT / value).resolve()

    @property
    def local_kafka(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def local_postgres(self) -> bool:
        return not self.database_url

    @model_validator(mode="after")
    def _replicated_across_brokers(self) -> Self:
        if self.kafka_brokers > 1:
            ports = [p for i in range(self.kafka_brokers) for p in self.kafka_node_ports(i)]
            if len(set(ports)) != len(ports):
                raise ValueError(
                    f"{self.kafka_brokers} local Kafka nodes would share a port (node i "
                    "uses kafka_port + 2i and kafka_controller_port + 2i)"
                )
        if self.kafka_brokers >= 3:  # explicit values are kept
            if "topic_replication_factor" not in self.model_fields_set:
                self.topic_replication_factor = 3
            if "topic_min_insync_replicas" not in self.model_fields_set:
                self.topic_min_insync_replicas = 2
        return self

    def kafka_node_ports(self, node: int) -> tuple[int, int]:
        """(client, controller) ports of local Kafka node `node` (0 = the single broker's)."""
        return self.kafka_port + 2 * node, self.kafka_controller_port + 2 * node

    @property
    def bootstrap_servers(self) -> str:
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        return ",".join(
            f"127.0.0.1:{self.kafka_node_ports(i)[0]}" for i in range(self.kafka_brokers)
        )

    @property
    def dsn(self) -> str:
        return self.database_url or f"postgresql://lead@127.0.0.1:{self.pg_port}/lead"

    @property
    def dsn_redacted(self) -> str:
        """The DSN as it may be printed: without its password."""
        url = urlsplit(self.dsn)
        if not url.password:
            return self.dsn
        return url._replace(netloc=url.netloc.replace(f":{url.password}@", ":***@")).geturl()

    def environ(self) -> dict[str, str]:
        """These settings as LEAD_* variables, for a child process to read the same ones."""
        found = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            found[f"LEAD_{name.upper()}"] = text
        return found

    def eventsourcing_env(self, *, create_table: bool = False) -> dict[str, str]:
        """The explicit `env` for eventsourcing applications, derived from the DSN."""
        url = urlsplit(self.dsn)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "infra.event_recorder:LeadEventRecorder",
            "MAPPER_TOPIC": "infra.mapper:PydanticMapper",
            "TRANSCODER_TOPIC": "infra.mapper:JSONBytesTranscoder",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "lead",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": url.username or "lead",
            "POSTGRES_PASSWORD": url.password or "",
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            # Only `prepare` creates the store's tables: processes starting together
            # would otherwise race on PostgreSQL's catalogue.
            "CREATE_TABLE": "true" if create_table else "false",
            "LEAD_SITE_ID": self.site_id,
        }
