"""One validated settings object for the whole backend (environment prefix ``LEAD_``)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()


def default_data_dir() -> Path:
    """Where the backend keeps its data unless LEAD_DATA_DIR says: `.lead` beside the code
    in a source checkout (`make run`); for an installed package, the user's data directory
    ($XDG_DATA_HOME/lead, default ~/.local/share/lead), never inside site-packages."""
    if SOURCE_CHECKOUT:
        return PROJECT_ROOT / ".lead"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "lead"


def default_cache_dir() -> Path:
    """Downloads (the Kafka broker's jars): `.lead/cache` in a checkout, else
    $XDG_CACHE_HOME/lead (default ~/.cache/lead)."""
    if SOURCE_CHECKOUT:
        return PROJECT_ROOT / ".lead" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lead"


DbRole = Literal["owner", "app", "read", "auditor"]
# The PostgreSQL user each role connects as unless its own URL says otherwise. Locally
# the owner is the cluster's superuser, `lead`, made by initdb.
DB_USERS: dict[DbRole, str] = {
    "owner": "lead",
    "app": "lead_app",
    "read": "lead_read",
    "auditor": "lead_auditor",
}


def dsn_params(dsn: str) -> dict[str, str]:
    """A DSN's parameters as libpq reads them (a URL's parts percent-decoded), with a
    clear error for one it cannot read."""
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except Exception as exc:  # psycopg.ProgrammingError, with libpq's reason
        raise ValueError(f"not a PostgreSQL connection string or URL: {exc}") from None


class Settings(BaseSettings):
    """Everything the backend can be told; read once by the composition root."""

    model_config = SettingsConfigDict(env_prefix="LEAD_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    site_id: str = Field("lead-site", description="Names this site in CloudEvents' source.")

    # External services. When set, nothing local is started for that service.
    kafka_bootstrap: str | None = None
    database_url: str | None = Field(
        None,
        description="The owner role's connection (DDL, migrations, operator tools), as a "
        "libpq URL or key=value string; its parameters (sslmode, sslrootcert, ...) apply "
        "to every connection, the event store's included. Unset: the local cluster.",
    )
    database_app_url: str | None = Field(
        None,
        description="The application role's connection (API, relay, commands); default: "
        "database_url with user lead_app and the password in <pg_password_dir>/lead_app.",
    )
    database_read_url: str | None = Field(
        None,
        description="The read side's connection (projection workers); default: "
        "database_url with user lead_read and the password in <pg_password_dir>/lead_read.",
    )
    database_auditor_url: str | None = Field(
        None,
        description="The auditor role's connection (`lead audit verify`); default: "
        "database_url with user lead_auditor and the password in "
        "<pg_password_dir>/lead_auditor.",
    )
    pg_password_dir: Path | None = Field(
        None,
        description="Folder of the PostgreSQL roles' password files, one per role named "
        "after it (mode 0600); default <data_dir>/postgres-passwords, made by "
        "`lead infra up` for the local cluster.",
    )

    # The local stack started by `lead infra up`.
    data_dir: Path = Field(default_factory=default_data_dir)
    cache_dir: Path = Field(default_factory=default_cache_dir)
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
    kafka_credentials_dir: Path | None = Field(
        None,
        description="A directory of password files named lead-<component> (lead-relay, "
        "lead-workers, lead-api, lead-replay, lead-admin), each the password of the SASL "
        "user of that name: one credential per component on an external cluster. "
        "Default (local Kafka): <data_dir>/kafka/credentials, made by `lead infra up`.",
    )
    pg_port: int = 55432
    connect_timeout_seconds: float | None = Field(
        None,
        gt=0,
        le=600,
        description="How long a connection to PostgreSQL (libpq's connect_timeout, and the "
        "event store's pool wait) or to Kafka (kafka-python's bootstrap) may take before it "
        "fails; unset, the clients' own (30 s for the pool and for Kafka). The one-shot "
        "`lead` commands use 5 unless this is set, so a server that is down is reported "
        "within seconds.",
    )

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
    site_timezone: str = Field(
        "UTC",
        description="The site's IANA time zone (e.g. America/Los_Angeles): the protocol's "
        "days are the site's, so an intake deadline passes at the site's midnight.",
    )
    timers_interval_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How often `lead timers` looks for what time has made due (deadlines "
        "past): a lapse is recorded within this long of its deadline passing.",
    )
    clock_offset_file: Path | None = Field(
        None,
        description="Tests and demos only (refused in production): a file holding seconds "
        "(a float) added to the server's clock, read as it changes, so a test moves time "
        "for every process at once.",
    )
    signing_key_file: Path | None = Field(
        None,
        description="The site's Ed25519 key (PEM) that signs chain checkpoints; "
        "default <data_dir>/site-signing-key.pem, made on first start outside production.",
    )
    master_key_file: Path | None = Field(
        None,
        description="The site's single master key file of earlier versions (32 bytes, "
        "base64), default <data_dir>/master.key: kept in the key ring while it exists, its "
        "id its fingerprint, current until `lead keys rotate` names another.",
    )
    master_key_dir: Path | None = Field(
        None,
        description="The master key ring's folder: <id>.key files (32 bytes, base64, mode "
        "0600) and `current`, the id of the key that wraps new data keys; default "
        "<data_dir>/master-keys, made on first start outside production. `lead keys "
        "rotate` adds a key here and makes it current.",
    )
    master_keys: str | None = Field(
        None,
        repr=False,
        description="The master key ring from the environment instead of files: "
        "`id:base64,id:base64` (a key without `id:` gets its fingerprint as id). Read at "
        "start; docs/security.md, Keys, says how to rotate.",
    )
    master_key_id: str | None = Field(
        None,
        description="With LEAD_MASTER_KEYS: the current key's id (default the first).",
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
    idempotency_ttl_days: int = Field(
        7,
        ge=1,
        le=365,
        description="How long the API keeps an Idempotency-Key and its answer after the "
        "first request (a retry within it is answered from the store); then it is purged.",
    )
    consumer_group: str = "lead-projections"
    consumer_web_port: int = Field(
        6066,
        ge=0,
        le=65535,
        description="A worker's Prometheus metrics (GET /metrics) on metrics_host; 0: any "
        "free port (logged). A second worker on the host finds it taken and runs without.",
    )
    relay_metrics_port: int = Field(
        6067,
        ge=0,
        le=65535,
        description="The relay's Prometheus metrics (GET /metrics) on metrics_host; 0: any "
        "free port (logged).",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="json: one JSON object per line; text: plain lines; auto: text at a "
        "terminal, JSON otherwise.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Where the relay and the workers serve their metrics (the API serves "
        "its own on its port). 0.0.0.0 for a scraper on another host.",
    )

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

    @field_validator(
        "database_url", "database_app_url", "database_read_url", "database_auditor_url"
    )
    @classmethod
    def _readable_dsn(cls, value: str | None) -> str | None:
        if value is not None:
            dsn_params(value)  # a clear error now, not at the first connection
        return value

    @field_validator("site_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone; e.g. America/Los_Angeles or UTC"
            ) from None
        return value

    @model_validator(mode="after")
    def _clock_is_real_in_production(self) -> Self:
        if self.clock_offset_file is not None and self.environment == "production":
            raise ValueError(
                "clock_offset_file moves the server's clock, for tests and demos only: "
                "unset LEAD_CLOCK_OFFSET_FILE in production"
            )
        return self

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """A relative path is taken from the checkout's root, or (installed) the working
        directory."""
        if value.is_absolute():
            return value
        return ((PROJECT_ROOT if SOURCE_CHECKOUT else Path.cwd()) / value).resolve()

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

    @property
    def local_ca_file(self) -> Path:
        """The local stack's site CA certificate (made by `lead infra up`, infra/local/pki.py)."""
        return self.data_dir / "pki" / "ca.crt"

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
        """The owner's connection: DDL, migrations, rebuilds and the operator's tools."""
        return self.dsn_for("owner")

    @property
    def password_dir(self) -> Path:
        return self.pg_password_dir or self.data_dir / "postgres-passwords"

    def pg_password(self, user: str) -> str | None:
        """A role's password from its file, or None if it has none."""
        path = self.password_dir / user
        return path.read_text(encoding="utf-8").rstrip("\n") if path.exists() else None

    def dsn_for(self, role: DbRole) -> str:
        """The connection of one database role (see infra/postgres/roles.py): its own URL if
        set; otherwise the owner's, with the role's user and password file."""
        own = {
            "owner": self.database_url,
            "app": self.database_app_url,
            "read": self.database_read_url,
            "auditor": self.database_auditor_url,
        }[role]
        if own:
            given = dsn_params(own)
            if "password" in given:
                return self._with_connect_timeout(own)
            # No password in the URL: its user's password file, if there is one (a
            # container's secrets), else libpq's own sources (PGPASSFILE, ...).
            password = self.pg_password(given.get("user") or DB_USERS[role])
            found = make_conninfo(own, password=password) if password else own
            return self._with_connect_timeout(found)
        user = DB_USERS[role]
        if self.database_url:
            params = dsn_params(self.database_url)
        else:  # the local cluster: scram-sha-256 over TLS, its name checked against the CA
            params = {
                "host": "127.0.0.1",
                "port": str(self.pg_port),
                "dbname": "lead",
                "sslmode": "verify-full",
                "sslrootcert": str(self.local_ca_file),
            }
        params.pop("password", None)  # never the owner's password for another role
        params["user"] = user
        if password := self.pg_password(user):
            params["password"] = password
        return self._with_connect_timeout(make_conninfo("", **params))

    def _with_connect_timeout(self, dsn: str) -> str:
        """`dsn` with libpq's connect_timeout (whole seconds, at least 2, as libpq counts)
        when connect_timeout_seconds is set and the DSN gives none of its own."""
        if self.connect_timeout_seconds is None or "connect_timeout" in dsn_params(dsn):
            return dsn
        return make_conninfo(dsn, connect_timeout=max(2, math.ceil(self.connect_timeout_seconds)))

    @property
    def dsn_redacted(self) -> str:
        """The DSN as it may be printed: libpq's key=value form, without its password."""
        params = dsn_params(self.dsn)
        if "password" in params:
            params["password"] = "***"  # noqa: S105
        return make_conninfo("", **params)

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
        """The explicit `env` for eventsourcing applications, derived from the DSN.

        The DSN is parsed as libpq parses it (percent-decoding a URL's user and
        password), and the whole of it is passed on as `LEAD_POSTGRES_CONNINFO`, which
        the store's factory gives its pool: every parameter of the DSN (sslmode,
        sslrootcert, ...) applies to the event store's connections too."""
        params = dsn_params(self.dsn)
        return {
            "PERSISTENCE_MODULE": "infra.postgres.event_recorder:LeadPostgresFactory",
            "APPLICATION_RECORDER_TOPIC": "infra.postgres.event_recorder:PostgresEventRecorder",
            "MAPPER_TOPIC": "infra.postgres.mapper:PydanticMapper",
            "TRANSCODER_TOPIC": "infra.postgres.mapper:JSONBytesTranscoder",
            "POSTGRES_DBNAME": params.get("dbname") or "lead",
            "POSTGRES_HOST": params.get("host") or "127.0.0.1",
            "POSTGRES_PORT": params.get("port") or "5432",
            "POSTGRES_USER": params.get("user") or "lead",
            "POSTGRES_PASSWORD": params.get("password") or "",
            "LEAD_POSTGRES_CONNINFO": make_conninfo(self.dsn),
            **(
                {"POSTGRES_CONNECT_TIMEOUT": str(math.ceil(self.connect_timeout_seconds))}
                if self.connect_timeout_seconds is not None
                else {}
            ),
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            # Only `prepare` creates the store's tables: processes starting together
            # would otherwise race on PostgreSQL's catalogue.
            "CREATE_TABLE": "true" if create_table else "false",
            "LEAD_SITE_ID": self.site_id,
        }
