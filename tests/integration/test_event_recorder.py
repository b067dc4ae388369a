"""The store's recorder appends with one statement and keeps eventsourcing's guarantees:
the exclusive table lock held to the commit (ids in commit order), the hash chain
unbroken under concurrent writers, a notification per append, a duplicate refused whole."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from infra.bootstrap import Container
from infra.event_recorder import LeadEventRecorder
from services.commands import ReceiveReferral
from tests.factories import OFFICER, referral_body

pytestmark = pytest.mark.integration


def test_the_application_appends_through_the_one_statement_recorder(container: Container) -> None:
    recorder = container.application.recorder
    assert isinstance(recorder, LeadEventRecorder)
    with psycopg.connect(container.settings.dsn) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = %s", (recorder.append_function,)
        ).fetchone()
    assert found == (1,)


def test_concurrent_writers_all_land_and_the_chain_holds(container: Container) -> None:
    """Four writers at once: every append lands, each event is chained once, and the
    chain verifies (its trigger refuses an id below the chain's end: out of order)."""
    app = container.application
    start = int(app.recorder.max_notification_id() or 0)
    failures: list[BaseException] = []

    def write(count: int) -> None:
        try:
            for _ in range(count):
                app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
        except BaseException as exc:  # reported below
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(40,)) for _ in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()

    assert not failures
    with psycopg.connect(container.settings.dsn) as conn:
        stored, chained = conn.execute(
            "SELECT (SELECT count(*) FROM lead_events WHERE notification_id > %s), "
            "(SELECT count(*) FROM event_chain WHERE position > %s)",
            (start, start),
        ).fetchone() or (0, 0)
    assert stored == chained == 4 * 40 * 2  # a referral is two events, each chained
    finding, checked = container.history(with_key=False).verify_store(start=start + 1)
    assert finding is None and checked == stored


def test_an_append_takes_the_exclusive_table_lock_until_it_commits(container: Container) -> None:
    """The lock that keeps ids in commit order: an append waits for a reader holding
    ROW SHARE (which only EXCLUSIVE and stronger wait for; a bare insert would not)."""
    app = container.application
    before = app.recorder.max_notification_id()
    with psycopg.connect(container.settings.dsn) as holder:
        holder.execute("LOCK TABLE lead_events IN ROW SHARE MODE")
        writer = threading.Thread(
            target=app.receive_referral,
            args=(ReceiveReferral.model_validate(referral_body()), OFFICER),
        )
        writer.start()
        waiting = None
        with psycopg.connect(container.settings.dsn, autocommit=True) as watch:
            deadline = time.monotonic() + 10
            while waiting is None and writer.is_alive() and time.monotonic() < deadline:
                waiting = watch.execute(
                    "SELECT mode FROM pg_locks WHERE relation = 'lead_events'::regclass "
                    "AND NOT granted"
                ).fetchone()
                time.sleep(0.02)
        assert waiting == ("ExclusiveLock",)  # the append waits for the table lock
        assert app.recorder.max_notification_id() == before
        holder.rollback()  # releases the ROW SHARE lock
    writer.join(timeout=10)
    assert not writer.is_alive()
    assert app.recorder.max_notification_id() == (before or 0) + 2


def test_an_append_notifies_listeners_when_it_commits(container: Container) -> None:
    with psycopg.connect(container.settings.dsn, autocommit=True) as listener:
        listener.execute("LISTEN lead_events")
        container.application.receive_referral(
            ReceiveReferral.model_validate(referral_body()), OFFICER
        )
        heard = list(listener.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in heard] == ["lead_events"]


def test_a_duplicate_version_is_refused_and_nothing_of_its_append_is_stored(
    container: Container,
) -> None:
    recorder = container.application.recorder
    existing = container.application.receive_referral(
        ReceiveReferral.model_validate(referral_body()), OFFICER
    ).id
    before = recorder.max_notification_id()
    fresh = uuid.uuid4()
    append = [
        StoredEvent(fresh, 1, "events.referral:Anything", b"{}"),
        StoredEvent(existing, 1, "events.referral:Anything", b"{}"),  # version 1 exists
    ]
    with pytest.raises(IntegrityError):
        recorder.insert_events(append)
    assert recorder.max_notification_id() == before
    assert recorder.select_events(fresh) == []


def test_its_reads_answer_as_eventsourcings_own_for_every_shape(container: Container) -> None:
    """The statements rendered once per shape give what eventsourcing's give."""
    recorder = container.application.recorder
    assert isinstance(recorder, LeadEventRecorder)
    referral = container.application.receive_referral(
        ReceiveReferral.model_validate(referral_body()), OFFICER
    )
    top = int(recorder.max_notification_id() or 0)
    topics = sorted({n.topic for n in recorder.select_notifications(top - 1, 2)})
    for start in (None, 1, top - 3):
        for stop in (None, top - 1):
            for chosen in ((), topics[:1]):
                for inclusive in (True, False):
                    ours = recorder.select_notifications(
                        start, 5, stop, chosen, inclusive_of_start=inclusive
                    )
                    theirs = PostgresApplicationRecorder.select_notifications(
                        recorder, start, 5, stop, chosen, inclusive_of_start=inclusive
                    )
                    assert ours == theirs
    for gt in (None, 0, 1):
        for lte in (None, 1, 2):
            for desc in (False, True):
                for limit in (None, 1):
                    ours_e = recorder.select_events(
                        referral.id, gt=gt, lte=lte, desc=desc, limit=limit
                    )
                    theirs_e = PostgresApplicationRecorder.select_events(
                        recorder, referral.id, gt=gt, lte=lte, desc=desc, limit=limit
                    )
                    assert ours_e == theirs_e
    assert recorder.select_events(referral.id)  # the referral's events are there to compare
