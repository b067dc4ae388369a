"""The workers' consumer fetches in small batches instead of one message at a time."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from aiokafka import AIOKafkaConsumer

from consumers.app import create_app
from consumers.projector import Projector
from consumers.transport import FETCH_MAX_WAIT_MS, FETCH_MIN_BYTES, Transport


def test_the_worker_consumer_waits_for_a_batch_of_bytes() -> None:
    async def built() -> Any:
        app = create_app(
            app_id="lead-test-transport",
            bootstrap_servers="127.0.0.1:1",  # nothing connects while the app is built
            projector=Projector("postgresql://unused", []),
            read_ranges=lambda ranges, limit: [],
        )
        assert isinstance(app.transport, Transport)
        # What faust's consumer thread builds when the worker starts.
        consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)
        settings = (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms)
        await consumer.stop()
        return settings

    # faust's own would be 1 byte / 1500 ms: each fetch returning one message.
    assert asyncio.run(built()) == (FETCH_MIN_BYTES, FETCH_MAX_WAIT_MS)
    assert FETCH_MIN_BYTES > 1
    assert FETCH_MAX_WAIT_MS <= 50  # the latency it may add stays small


def test_aiokafka_hands_those_settings_to_its_fetcher() -> None:
    """They are set on the built consumer: if aiokafka stopped reading them at start,
    the setting would silently do nothing."""
    source = inspect.getsource(AIOKafkaConsumer.start)
    assert "self._fetch_min_bytes" in source
    assert "self._fetch_max_wait_ms" in source
