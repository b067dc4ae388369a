"""The running backend, as `lead run` starts it: API, relay and consumers as processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from infra.settings import Settings
from services.bootstrap import Container
from tests.conftest import subprocess_env
from tests.principals import cast
from tests.processes import Proc, wait_until


@dataclass
class Backend:
    settings: Settings
    base_url: str
    api: Proc
    relay: Proc
    consumers: Proc

    @property
    def procs(self) -> tuple[Proc, ...]:
        return (self.api, self.relay, self.consumers)


def api_up(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def backend(settings: Settings) -> Iterator[Backend]:
    yield from running_backend(settings)


def running_backend(settings: Settings, **env_overrides: str) -> Iterator[Backend]:
    """API, relay and consumers started with the test stack's environment (and
    `env_overrides`), stopped when the generator is closed."""
    env = subprocess_env(**env_overrides)
    logs = settings.data_dir / "logs"
    procs = [Proc(name, env, logs) for name in ("api", "relay", "consumers")]
    backend = Backend(settings, f"http://{settings.api_host}:{settings.api_port}", *procs)
    try:
        wait_until(lambda: api_up(backend.base_url), 60, "the API", backend.procs)
        yield backend
    finally:
        # A test may replace a process (a restarted worker): stop the ones running now
        # as well as the ones started here, so none outlives its module and holds its
        # port or a share of the consumer group's partitions in the next one.
        for proc in {id(p): p for p in (*procs, *backend.procs)}.values():
            proc.stop()


@pytest.fixture(scope="module")
def people(container: Container) -> dict[str, dict[str, str]]:
    """The site's cast (tests/principals.py): name -> headers carrying their token."""
    return cast(container.application)


HEAVY_WRITERS = ("test_resume_from_postgres", "test_two_workers", "test_crash_recovery")
"""Modules that write tens of thousands of events: run last, so the tests that replay
the whole topic (rebuilds, audit replays, verification) replay a smaller history."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.module.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
        return HEAVY_WRITERS.index(module) + 1 if module in HEAVY_WRITERS else 0

    items.sort(key=rank)  # the smallest writers first; the crash test's 20,000 events last
