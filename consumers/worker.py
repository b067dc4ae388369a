"""The `lead consumers` process: faust's worker, with a bound on how long it takes to stop.

faust stops a worker by leaving the consumer group and stopping its Kafka clients;
with Kafka unreachable those retry for a minute or more before giving up. A worker
told to stop that has not stopped within its bound exits anyway. That is as safe as
a crash, which the worker is built for: a view's rows and the offsets they answer to
commit in one PostgreSQL transaction, so an uncommitted batch is applied again by
whichever worker next owns the partition, and nothing twice.
"""

from __future__ import annotations

import threading
from typing import Any

import faust

from infra.local.processes import exit_unless_stopped_within


class Worker(faust.Worker):
    def __init__(self, app: Any, *services: Any, stop_within: float, **kwargs: Any) -> None:
        super().__init__(app, *services, **kwargs)
        if not self.stdout.isatty():
            self.spinner = None  # its cursor codes would land in log files, mid-line
        self.stop_within = stop_within
        self._deadline: threading.Timer | None = None

    async def stop(self) -> None:
        if self._deadline is None:
            self._deadline = exit_unless_stopped_within(self.stop_within, "the worker")
        await super().stop()
