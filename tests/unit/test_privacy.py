"""Forgetting: recorded once, the key destroyed (again on a retry); the retention rule
picks exactly those who exited longer ago than the site keeps their data."""

from __future__ import annotations

from datetime import date, timedelta

from aggregates.privacy import erasure_id
from events.privacy import ErasureGround, PersonForgotten
from infra.crypto.sealing import MemoryKeyStore, PersonSealer
from services import commands as c
from services.application import LeadApplication
from services.privacy import Privacy
from tests import scenario
from tests.factories import IN_MEMORY
from tests.scenario import ADMIN, CM


def test_forgetting_is_recorded_once_and_destroys_the_key_each_time() -> None:
    keys = MemoryKeyStore()
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(keys))
    site = scenario.run(app)
    person = site.enrolled_person
    assert person is not None and keys.get(person) is not None
    privacy = Privacy(app, keys)
    first = privacy.forget(person, actor=ADMIN, reason="asked", ground=ErasureGround.REQUEST)
    keys.keys[person] = b"k" * 32  # as if the destruction had not happened
    again = privacy.forget(person, actor=ADMIN, reason="asked", ground=ErasureGround.REQUEST)
    assert first.recorded and not again.recorded
    assert keys.get(person) is None
    [event] = list(app.events.get(erasure_id(person)))
    assert isinstance(event, PersonForgotten) and event.actor == ADMIN


def test_retention_picks_those_exited_long_enough_ago_and_not_yet_forgotten() -> None:
    keys = MemoryKeyStore()
    app = LeadApplication(env=IN_MEMORY, sealer=PersonSealer(keys))
    site = scenario.run(app)
    person = site.enrolled_person
    assert person is not None
    privacy = Privacy(app, keys)
    today = date.today()
    exited = app.participant(person).exited_on
    if exited is None:  # the scenario re-engages them: exit them for this test
        app.exit_participant(
            person, c.ExitParticipant(exited_on=today - timedelta(days=3), reason="moved_away"), CM
        )
        exited = today - timedelta(days=3)
    days_ago = (today - exited).days
    assert privacy.due_for_retention([person], days=days_ago + 1, today=today) == []
    assert privacy.due_for_retention(
        [person], days=max(days_ago - 1, 0) or 1, today=today + timedelta(days=2)
    ) == [person]
    privacy.forget(person, actor=ADMIN, reason="retention", ground=ErasureGround.RETENTION)
    assert privacy.due_for_retention([person], days=1, today=today + timedelta(days=30)) == []
