"""The store's recorder appends with one statement and keeps eventsourcing's guarantees:
the exclusive table lock held to the commit (ids in commit order), the hash chain
unbroken under concurrent writers, a notification per append, a duplicate refused whole."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from infra.postgres.event_recorder import PostgresEventRecorder
from infra.settings import Settings
from services.bootstrap import Container
from services.commands import AdoptPolicy, ReceiveReferral
from services.errors import ChangedSinceError
from tests.factories import OFFICER, POLICY_TERMS, referral_body
from tests.scenario import ADMIN

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch(container: Container) -> Iterator[PostgresEventRecorder]:
    """The recorder on a table of its own, for appends of events no application could
    read (the shared store's events are read whole by other tests)."""
    owner = Container(container.settings, role="owner")  # who may create tables
    recorder = owner.application.recorder
    assert isinstance(recorder, PostgresEventRecorder)
    own = PostgresEventRecorder(
        recorder.datastore, events_table_name=f"scratch_{uuid.uuid4().hex[:8]}"
    )
    own.create_table()
    try:
        yield own
    finally:
        owner.application.close()
        with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {own.events_table_name}")
            conn.execute(f"DROP FUNCTION {own.append_function}")


def test_the_application_appends_through_the_one_statement_recorder(container: Container) -> None:
    recorder = container.application.recorder
    assert isinstance(recorder, PostgresEventRecorder)
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
    assert isinstance(recorder, PostgresEventRecorder)
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


def test_an_append_guarded_by_an_aggregates_version_is_refused_whole_once_it_changed(
    scratch: PostgresEventRecorder,
) -> None:
    """`unchanged=`: appended only while that aggregate has nothing after the version
    given, checked under the table lock; otherwise nothing of the append is stored."""
    recorder = scratch
    guard = uuid.uuid4()
    recorder.insert_events(
        [StoredEvent(guard, v, "events.referral:Anything", b"{}") for v in (1, 2)]
    )
    fresh = uuid.uuid4()
    append = [StoredEvent(fresh, 1, "events.referral:Anything", b"{}")]
    before = recorder.max_notification_id()
    with pytest.raises(ChangedSinceError, match=f"{guard} has changed since version 1"):
        recorder.insert_events(append, unchanged=(guard, 1))
    assert recorder.max_notification_id() == before
    assert recorder.select_events(fresh) == []
    recorder.insert_events(append, unchanged=(guard, 2))
    assert [e.originator_version for e in recorder.select_events(fresh)] == [1]


def test_a_referral_is_screened_under_the_policy_amended_by_another_process(
    container: Container, settings: Settings
) -> None:
    """The service keeps the policy and does not ask before each referral whether it is
    still the latest: the store refuses the save if it changed, and the referral is
    screened again under the amended policy."""
    app = container.application
    app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
    kept = app.get_policy().version
    other = Container(settings)
    try:
        amended = other.application.adopt_policy(AdoptPolicy(terms=POLICY_TERMS), ADMIN)
    finally:
        other.application.close()
    assert amended.version == kept + 1
    received = app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
    referral = app.repository.get(received.id)
    assert referral.policy_version == amended.version


@examples(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=40),
            st.binary(max_size=300),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_what_is_appended_reads_back_byte_for_byte(
    scratch: PostgresEventRecorder, rows: list[tuple[str, bytes]]
) -> None:
    """The append sends array literals it writes itself: any topic (quotes, backslashes,
    commas, braces, any script; PostgreSQL text holds no NUL) and any state bytes come
    back exactly as given."""
    recorder = scratch
    fresh = uuid.uuid4()
    recorder.insert_events(
        [StoredEvent(fresh, v, topic, state) for v, (topic, state) in enumerate(rows, 1)]
    )
    back = [(e.topic, e.state) for e in recorder.select_events(fresh)]
    assert back == rows
