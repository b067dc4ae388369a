"""The fault suite in brief, on the test stack: while commands arrive through the API, the
relay, one of two workers and the API are SIGKILLed (and restarted, as `lead run` does).

Every command answered 2xx has its events in the store, a refused one none; every
stored event is on `lead.events.v1`; this run's rows of every projection equal a
rebuild from offset 0. Kafka and PostgreSQL are shared with the other tests, so they
are left running: `make chaos` (tests/chaos) kills those too.
"""

from __future__ import annotations

import random

import pytest

from infra.settings import Settings
from services.bootstrap import Container
from tests.chaos.harness import Run, assert_sound, report, run
from tests.chaos.load import LoadOptions
from tests.conftest import subprocess_env

pytestmark = pytest.mark.e2e

KINDS = ("kill_relay", "kill_worker", "kill_api")


def test_killed_processes_lose_no_command_and_apply_no_event_twice(
    settings: Settings, container: Container, people: dict[str, dict[str, str]]
) -> None:
    summary = run(
        Run(
            settings=settings,
            env=subprocess_env(LEAD_RELAY_BATCH_SIZE="50"),
            container=container,
            tokens=people,
            seed=random.SystemRandom().randrange(10**6),
            kinds=KINDS,
            times=1,
            load_seconds=20,
            load=LoadOptions(lanes=2),
            gap=(3.0, 6.0),
            settle_timeout=120,
            shared_stack=True,
        )
    )
    report(summary)
    assert_sound(summary, KINDS, 1)
