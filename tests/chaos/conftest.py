"""A stack of the fault suite's own: `.lead/chaos`, ports 59500-59520, group `lead-chaos`.

Started from empty data by the same `infra` code as `lead infra up`, apart from the
developer's, the test, bench and cluster stacks (the suite kills its Kafka and stops
its PostgreSQL), and stopped again at the end. As root, the event store's table lives
in a tablespace on a small tmpfs of its own, which the `fill_disk` fault fills up; it
is unmounted when the stack stops (and before the next run, should a run be killed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from infra.kafka import security as kafka_security
from infra.local import stack
from infra.local.postgres import SERVER_USER
from infra.settings import PROJECT_ROOT, Settings
from services.bootstrap import Container
from services.commands import AdoptPolicy
from tests.conftest import make_test_settings, subprocess_env
from tests.factories import POLICY_TERMS
from tests.principals import cast
from tests.scenario import ADMIN

CHAOS_ENV = {
    "LEAD_SITE_ID": "chaos-site",
    "LEAD_DATA_DIR": str(PROJECT_ROOT / ".lead" / "chaos"),
    "LEAD_KAFKA_PORT": "59500",
    "LEAD_KAFKA_CONTROLLER_PORT": "59501",
    "LEAD_KAFKA_HEAP": "512m",
    "LEAD_PG_PORT": "59510",
    "LEAD_API_PORT": "59512",
    "LEAD_CONSUMER_WEB_PORT": "59514",
    "LEAD_RELAY_METRICS_PORT": "59515",
    "LEAD_CONSUMER_GROUP": "lead-chaos",
    "LEAD_RELAY_BATCH_SIZE": "50",  # several batches a second: a kill lands mid-batch
}
DISK_SIZE = "128m"


@dataclass
class ChaosStack:
    settings: Settings
    env: dict[str, str]
    container: Container
    tokens: dict[str, dict[str, str]]
    disk: Path | None  # the event store's own file system, when one could be mounted


def unmount(path: Path) -> None:
    if os.path.ismount(path):
        subprocess.run(["umount", str(path)], check=True)


def mount_disk(path: Path) -> bool:
    """A tmpfs of DISK_SIZE for the server user; False when not root (no fill_disk then)."""
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={DISK_SIZE},mode=0700"
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "lead-chaos-disk", str(path)], check=False
    )
    if result.returncode != 0:
        return False
    shutil.chown(path, SERVER_USER, SERVER_USER)
    return True


def move_event_store(dsn: str, table: str, disk: Path) -> None:
    """The event store's table and its indexes into a tablespace on `disk`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLESPACE chaos_disk LOCATION {}").format(str(disk)))
        conn.execute(
            sql.SQL("ALTER TABLE {} SET TABLESPACE chaos_disk").format(sql.Identifier(table))
        )
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)
        ).fetchall()
        for (index,) in indexes:
            conn.execute(
                sql.SQL("ALTER INDEX {} SET TABLESPACE chaos_disk").format(sql.Identifier(index))
            )


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[ChaosStack]:
    settings = make_test_settings(**CHAOS_ENV)
    disk_path = settings.data_dir / "event-store-disk"
    stack.destroy(settings)
    unmount(disk_path)
    disk = disk_path if mount_disk(disk_path) else None
    container = Container(settings)
    try:
        stack.up(settings)
        with kafka_security.connecting_as(settings, "admin"):  # this process's clients
            container.prepare()
            if disk is not None:
                move_event_store(settings.dsn, container.events_table, disk)
            container.application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), ADMIN)
            env = subprocess_env(**CHAOS_ENV)
            yield ChaosStack(settings, env, container, cast(container.application), disk)
    finally:
        for app in ("application", "sealed_application"):
            if app in container.__dict__:
                container.__dict__[app].close()
        stack.down(settings)
        unmount(disk_path)
