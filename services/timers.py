"""`lead timers`: records what the protocol makes due with time, by the server's clock.

Today that is the intake deadline of an arrest diversion: once the site's date is past
it and intake has not been completed, the referral lapses and goes back to the
prosecutor (`referral.intake_deadline_lapsed`, reaching `lead.prosecution.v1`).

Each lapse is recorded once. The referral aggregate decides (still waiting, deadline
past by the site's date now), and its save is optimistic: a second replica, or this one
after a kill between deciding and saving, finds the referral lapsed or changed and
records nothing. Nothing is kept between ticks, so a restart simply looks again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date
from uuid import UUID

from events.base import Actor, Role
from services.application import LeadApplication
from services.errors import ConcurrencyError, DomainError, NotFoundError

log = logging.getLogger(__name__)

TIMERS_ACTOR = Actor(principal="lead-timers", role=Role.SYSTEM, organisation="LEAD")
"""Who records what the clock made due: a system principal, shown as such in the audit
trail, never a person."""

DueLapses = Callable[[date], list[UUID]]
"""The referrals whose deadline is before a site date, by the (possibly lagging) view."""


class Timers:
    def __init__(self, app: LeadApplication, due_lapses: DueLapses) -> None:
        self.app = app
        self.due_lapses = due_lapses

    def tick(self) -> int:
        """Record every lapse now due; how many this call recorded."""
        recorded = 0
        for referral_id in self.due_lapses(self.app.clock.today()):
            try:
                receipt = self.app.lapse_when_due(referral_id, TIMERS_ACTOR)
            except (ConcurrencyError, DomainError, NotFoundError) as exc:
                # Another replica (or intake, or a case manager) got there first.
                log.debug("referral %s not lapsed: %s", referral_id, exc)
                continue
            if receipt is not None:
                recorded += 1
                log.info(
                    "intake deadline lapsed: referral %s returned to the prosecutor (position %s)",
                    referral_id,
                    receipt.position,
                )
        return recorded

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
