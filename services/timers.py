"""`lead timers`: records what the protocol makes due with time, by the server's clock.

- The intake deadline of an arrest diversion: once the site's date is past it and intake
  has not been completed, the referral lapses and goes back to the prosecutor
  (`referral.intake_deadline_lapsed`, reaching `lead.prosecution.v1`).
- A consent's end date: once it has come, the expiry is recorded (`consent.expired`, as
  of that date). Coverage ends at that moment anyway, whenever this runs: every read and
  the feed judge a consent at the moment they use it.

Each is recorded once. The aggregate decides (still due by the server's clock now),
and its save is optimistic: a second replica, or this one after a kill between deciding
and saving, finds it recorded or changed and records nothing. Nothing is kept between
ticks, so a restart simply looks again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from uuid import UUID

from events.base import Actor, Role
from services.application import LeadApplication, Receipt
from services.errors import ConcurrencyError, DomainError, NotFoundError

log = logging.getLogger(__name__)

TIMERS_ACTOR = Actor(principal="lead-timers", role=Role.SYSTEM, organisation="LEAD")
"""Who records what the clock made due: a system principal, shown as such in the audit
trail, never a person."""

DueLapses = Callable[[date], list[UUID]]
"""The referrals whose deadline is before a site date, by the (possibly lagging) view."""
DueExpiries = Callable[[datetime], list[UUID]]
"""The consents whose end date has come by a time, by the (possibly lagging) view."""
Record = Callable[[UUID, Actor], Receipt | None]


def _nothing(_: datetime) -> list[UUID]:
    return []


class Timers:
    def __init__(
        self, app: LeadApplication, due_lapses: DueLapses, due_expiries: DueExpiries = _nothing
    ) -> None:
        self.app = app
        self.due_lapses = due_lapses
        self.due_expiries = due_expiries

    def tick(self) -> int:
        """Record every lapse and expiry now due; how many this call recorded."""
        recorded = 0
        for referral_id in self.due_lapses(self.app.clock.today()):
            receipt = self._once(self.app.lapse_when_due, referral_id)
            if receipt is not None:
                recorded += 1
                log.info(
                    "intake deadline lapsed: referral %s returned to the prosecutor (position %s)",
                    referral_id,
                    receipt.position,
                )
        for consent_id in self.due_expiries(self.app.clock.now()):
            receipt = self._once(self.app.expire_when_due, consent_id)
            if receipt is not None:
                recorded += 1
                log.info("consent %s expired (position %s)", consent_id, receipt.position)
        return recorded

    @staticmethod
    def _once(record: Record, aggregate_id: UUID) -> Receipt | None:
        try:
            return record(aggregate_id, TIMERS_ACTOR)
        except (ConcurrencyError, DomainError, NotFoundError) as exc:
            # Another replica (or a person, by hand) got there first.
            log.debug("%s: nothing recorded: %s", aggregate_id, exc)
            return None

    def run(self, stop: threading.Event, interval: float) -> None:
        """Tick every `interval` seconds until `stop`; a failed tick (PostgreSQL away)
        is logged and tried again at the next one."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                log.warning(
                    "timers: %s: %s; trying again in %.0f s", type(exc).__name__, exc, interval
                )
            stop.wait(interval)
