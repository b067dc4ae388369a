"""The `lead consumers` process: faust's worker, with a bound on how long it takes to stop.

faust stops a worker by leaving the consumer group and stopping its Kafka clients;
with Kafka unreachable those retry for a minute or more before giving up. A worker
told to stop that has not stopped within its bound exits anyway. That is as safe as
a crash, which the worker is built for: a view's rows and the offsets they answer to
commit in one PostgreSQL transaction, so an uncommitted batch is applied again by
whichever worker next owns the partition, and nothing twice.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import faust

log = logging.getLogger(__name__)

NOT_STOPPED_IN_TIME = 75  # EX_TEMPFAIL: stopped, but not cleanly


def exit_unless_stopped_within(seconds: float, what: str) -> threading.Timer:
    """From now, `seconds` for the process to end on its own; then it exits with
    NOT_STOPPED_IN_TIME and a log line saying why."""

    def give_up() -> None:
        log.error(
            "%s did not stop within %.0f s (is Kafka or PostgreSQL unreachable?); exiting "
            "without a clean stop: what it had not committed is applied on restart",
            what,
            seconds,
        )
        logging.shutdown()
        os._exit(NOT_STOPPED_IN_TIME)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer


class Worker(faust.Worker):
    def __init__(self, app: Any, *services: Any, stop_within: float, **kwargs: Any) -> None:
        super().__init__(app, *services, **kwargs)
        self.stop_within = stop_within
        self._deadline: threading.Timer | None = None

    async def stop(self) -> None:
        if self._deadline is None:
            self._deadline = exit_unless_stopped_within(self.stop_within, "the worker")
        await super().stop()
