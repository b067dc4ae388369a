"""Signs a checkpoint of the event chain now and then, and publishes it on `lead.audit.v1`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from events.envelope import CloudEvent
from infra.audit.history import ChainHistory

log = logging.getLogger(__name__)


class Notary:
    def __init__(
        self,
        history: ChainHistory,
        publish: Callable[[list[CloudEvent]], None],
        *,
        source: str,
        interval_seconds: float,
    ) -> None:
        self.history = history
        self.publish = publish
        self.source = source
        self.interval = interval_seconds
        self.last_position = -1

    def run_once(self) -> int | None:
        """A new checkpoint if the chain grew since the last one; its position, or None."""
        try:
            checkpoint = self.history.checkpoint()
        except LookupError:
            return None  # nothing stored yet
        if checkpoint.position == self.last_position:
            return None
        self.publish([ChainHistory.as_record(checkpoint, self.source)])
        self.last_position = checkpoint.position
        log.info("checkpoint signed and published at position %d", checkpoint.position)
        return checkpoint.position

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep notarising: a failed round is retried next time
                log.exception("checkpoint failed; retrying in %.0fs", self.interval)
            stop.wait(self.interval)
