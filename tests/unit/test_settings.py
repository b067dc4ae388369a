from __future__ import annotations

import pytest

from infra import stack
from infra.settings import Settings


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
        "postgres  external postgresql://lead:***@db.internal:5433/leadsite",
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
