from __future__ import annotations

from pathlib import Path

import pytest

from infra.local import stack
from infra.settings import Settings, dsn_params


def test_external_services_are_used_as_given_and_nothing_is_started() -> None:
    settings = Settings(
        kafka_bootstrap="kafka-1:9092,kafka-2:9092",
        database_url="postgresql://lead:secret@db.internal:5433/leadsite",
    )
    assert not settings.local_kafka and not settings.local_postgres
    assert stack.up(settings) == stack.StackState(started_postgres=False, started_kafka=False)
    env = settings.eventsourcing_env()
    assert env["POSTGRES_HOST"] == "db.internal"
    assert env["POSTGRES_PORT"] == "5433"
    assert env["POSTGRES_DBNAME"] == "leadsite"
    assert env["POSTGRES_USER"] == "lead"
    assert env["POSTGRES_PASSWORD"] == "secret"
    assert stack.status(settings) == [
        "postgres  external user=lead password=*** dbname=leadsite host=db.internal port=5433",
        "kafka     external kafka-1:9092,kafka-2:9092",
    ]


def test_by_default_the_local_stack_is_used() -> None:
    settings = Settings(kafka_bootstrap=None, database_url=None)
    assert settings.local_kafka and settings.local_postgres
    assert settings.bootstrap_servers == f"127.0.0.1:{settings.kafka_port}"


def test_settings_pass_to_a_child_process_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.settings import Settings

    original = Settings(kafka_port=61000, equity_baseline={"Black": 120}, site_id="child-test")
    for name, value in original.environ().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


def test_every_setting_is_in_the_operators_table_with_its_default() -> None:
    """docs/deploy.md lists each LEAD_* setting; where the default is a plain value,
    the table shows that value (a stale default there misleads an operator)."""
    import re

    from infra.settings import PROJECT_ROOT

    shown: dict[str, str] = {}
    for line in (PROJECT_ROOT / "docs" / "deploy.md").read_text().splitlines():
        if line.startswith("| `"):
            names, default = (c.strip() for c in line.strip("|").split("|")[:2])
            values = re.findall(r"`([^`]*)`", default)
            for i, name in enumerate(re.findall(r"`([A-Z_]+)`", names)):
                shown[name] = values[i] if i < len(values) else default
    for name, field in Settings.model_fields.items():
        assert name.upper() in shown, f"LEAD_{name.upper()} is not in docs/deploy.md"
        default = field.default
        if isinstance(default, bool) or not isinstance(default, int | float | str):
            continue  # paths, unset values and JSON: described in words
        number = isinstance(default, int | float)
        assert (float(shown[name.upper()]) if number else shown[name.upper()]) == default, name


def test_a_percent_encoded_password_reaches_the_event_store_decoded() -> None:
    """urlsplit leaves a URL's password percent-encoded; libpq (and so every psycopg
    connection) decodes it: the event store must get the same password."""
    settings = Settings(
        database_url="postgresql://lead:p%40ss%3Aw%2Fo%20rd%25%27%C3%BC@db.internal/lead"
        "?sslmode=verify-full&sslrootcert=/etc/site/ca.crt"
    )
    env = settings.eventsourcing_env()
    assert env["POSTGRES_PASSWORD"] == "p@ss:w/o rd%'ü"
    assert "sslmode=verify-full" in env["LEAD_POSTGRES_CONNINFO"]
    assert "sslrootcert=/etc/site/ca.crt" in env["LEAD_POSTGRES_CONNINFO"]


def test_a_dsn_libpq_cannot_read_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL connection string"):
        Settings(database_url="postgresql://lead@db.internal/lead?sslmode").eventsourcing_env()


def test_a_url_without_a_password_takes_its_users_password_file(tmp_path: Path) -> None:
    """A container's secrets: the URL names the user, its password is a file (read as
    libpq would be given it, whatever its characters), and the event store gets it too."""
    (tmp_path / "lead").write_text("p@ss%:w/rd\n")
    (tmp_path / "lead_read").write_text("r%40d\n")
    settings = Settings(
        database_url="postgresql://lead@db.internal/lead?sslmode=require",
        pg_password_dir=tmp_path,
    )
    assert dsn_params(settings.dsn)["password"] == "p@ss%:w/rd"
    assert dsn_params(settings.dsn)["sslmode"] == "require"
    assert settings.eventsourcing_env()["POSTGRES_PASSWORD"] == "p@ss%:w/rd"
    read = dsn_params(settings.dsn_for("read"))
    assert (read["user"], read["password"]) == ("lead_read", "r%40d")
    assert "password" not in dsn_params(settings.dsn_for("app"))  # no file: none invented


def test_a_printed_dsn_never_shows_the_password() -> None:
    settings = Settings(database_url="postgresql://lead:p%40ss%3Aword@db.internal/lead")
    assert "p%40ss" not in settings.dsn_redacted and "p@ss" not in settings.dsn_redacted
    assert dsn_params(settings.dsn_redacted)["password"] == "***"
    assert dsn_params(settings.dsn_redacted)["host"] == "db.internal"
