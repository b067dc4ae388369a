"""A message the read side cannot store never halts it (issue 18).

The messages are published straight to the topics, as a broken or hostile producer (or
an event stored before the API refused such values) would put them there: a NUL in a
referral's description and in a disclosure's purpose, a disclosure whose consent id
is not a UUID, and rows a test trigger on the referrals view refuses with a chosen
SQLSTATE (22P05 as in the issue, 40001 transient, 53100 PostgreSQL's own trouble). The
workers run as `lead consumers` does, with LEAD_CONSUMER_MAX_ATTEMPTS=3; the API
answers /readyz and /metrics. What the trigger made a worker dead-letter is replayed
once the trigger is gone, so the views stay what a rebuild from the topic gives.

The poison goes onto topics of a stack of this module's own (`.lead/test*/poison`):
messages a producer made up, with positions the store never had, are what `lead
audit verify` rightly reports as inserted, and the shared stack's other tests verify
its topics.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaProducer

from aggregates.referral import Referral
from events.base import Role
from events.disclosure import disclosure_record
from events.envelope import envelope
from events.referral import Incident, Pathway, Person, Referrer
from events.topics import AUDIT, DEADLETTER, EVENTS
from infra.kafka.deadletters import record_of
from infra.kafka.security import client_kwargs
from infra.settings import Settings
from tests.conftest import TEST_ENV, own_stack
from tests.conftest import run_lead as run_shared_lead
from tests.e2e.conftest import api_up
from tests.factories import OFFICER, POLICY
from tests.kafka_reader import read_all
from tests.processes import Proc, wait_until

pytestmark = pytest.mark.e2e

MAX_ATTEMPTS = 3
SOURCE = "urn:lead:site:test-site"
_positions = itertools.count(9_000_000_000_000)  # far above the store's: only labels here


@dataclass
class Stack:
    settings: Settings
    base_url: str
    env: dict[str, str]
    api: Proc
    consumers: Proc
    producer: KafkaProducer = field(repr=False)

    @property
    def procs(self) -> tuple[Proc, ...]:
        return (self.api, self.consumers)

    def start_consumers(self) -> None:
        self.consumers = Proc("consumers", self.env, self.settings.data_dir / "logs")

    def publish(self, topic: str, partition: int, messages: list[tuple[bytes, bytes]]) -> None:
        for key, value in messages:
            self.producer.send(topic, key=key, value=value, partition=partition)
        self.producer.flush()


OWN_ENV: dict[str, str] = {}
"""This module's stack, as LEAD_ variables (set by the `settings` fixture)."""


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    """A Kafka and PostgreSQL of this module's own (see the module docstring)."""
    with own_stack("poison", 100, LEAD_CONSUMER_MAX_ATTEMPTS=str(MAX_ATTEMPTS)) as (own, env):
        OWN_ENV.clear()
        OWN_ENV.update(env)
        yield own


def own_env() -> dict[str, str]:
    return {**os.environ, **TEST_ENV, **OWN_ENV}


def run_lead(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`lead ARGS...` against this module's stack."""
    return run_shared_lead(*args, timeout=timeout, env=own_env())


@pytest.fixture(scope="module")
def stack(settings: Settings) -> Iterator[Stack]:
    env = own_env()
    logs = settings.data_dir / "logs"
    api = Proc("api", env, logs)
    producer = KafkaProducer(
        **client_kwargs(), bootstrap_servers=settings.bootstrap_servers, acks="all"
    )
    stack = Stack(
        settings,
        f"http://{settings.api_host}:{settings.api_port}",
        env,
        api,
        Proc("consumers", env, logs),
        producer,
    )
    try:
        wait_until(lambda: api_up(stack.base_url), 60, "the API", stack.procs)
        yield stack
    finally:
        producer.close()
        stack.consumers.stop()
        api.stop()


def received(organisation: str, *, description: str = "possession") -> tuple[bytes, bytes]:
    """A referral.received CloudEvent as the relay publishes it, its description then
    replaced (the events refuse a NUL when made: the published JSON is edited)."""
    referral = Referral.receive(
        policy=POLICY,
        actor=OFFICER,
        pathway=Pathway.ARREST_DIVERSION,
        referrer=Referrer(principal=OFFICER.principal, organisation=organisation),
        incident=Incident(offense_code="69.50.4013", description="possession"),
        person=Person(given_name="Poison", family_name="Test"),
    )
    event = referral.collect_events()[0]
    message = json.loads(envelope(event, position=next(_positions), source=SOURCE).to_json())
    message["data"]["incident"]["description"] = description
    return str(event.person_id).encode(), json.dumps(message).encode()


def disclosure(tag: str, **data: Any) -> tuple[bytes, bytes]:
    """A disclosure record for `lead.audit.v1`, its data then altered by `data`."""
    record = disclosure_record(
        record_id=f"disclosure:{tag}",
        source=SOURCE,
        person_id=str(uuid.uuid4()),
        recipient_organisation="Prosecuting Attorney's Office",
        recipient_role=Role.LIAISON_PROSECUTOR.value,
        channel="test",
        information_kind="legal_status",
        purpose=f"poison test {tag}",
        consent_id=None,
        at=datetime.now(UTC),
    )
    message = json.loads(record.to_json())
    message["data"].update(data)
    return tag.encode(), json.dumps(message).encode()


def referral_orgs(dsn: str, prefix: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT referrer_organisation FROM proj_referrals.referrals "
            "WHERE referrer_organisation LIKE %s",
            (prefix + "%",),
        ).fetchall()
    return {r[0] for r in rows}


def dead_lettered(stack: Stack, keys: set[bytes]) -> dict[bytes, dict[str, Any]]:
    """`dead_letters` of these keys, once there is one for each."""
    wait_until(
        lambda: len(dead_letters(stack, keys)) == len(keys), 60, "the dead letters", stack.procs
    )
    return dead_letters(stack, keys)


def dead_letters(stack: Stack, keys: set[bytes]) -> dict[bytes, dict[str, Any]]:
    """The dead letters of these keys, each with `at`: where it is on the dead-letter topic."""
    return {
        r.key: {**record_of(r.value), "at": f"{r.partition}:{r.offset}"}
        for r in read_all(stack.settings.bootstrap_servers, DEADLETTER)
        if r.key in keys
    }


def replayed(stack: Stack, letter: dict[str, Any], organisation: str) -> None:
    """`lead deadletter replay` once its cause is gone, as an operator would: the view
    then holds what a rebuild from the topic gives (later tests rebuild and compare)."""
    done = run_lead("deadletter", "replay", "--offset", letter["at"], timeout=120)
    assert done.stdout.strip() == "replayed 1 messages", done.stdout + done.stderr[-2000:]
    wait_until(
        lambda: organisation in referral_orgs(stack.settings.dsn, organisation),
        60,
        "the replayed referral",
        stack.procs,
    )


def status() -> str:
    done = run_lead("projections", "status", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def readyz(stack: Stack) -> httpx.Response:
    return httpx.get(f"{stack.base_url}/readyz", timeout=30)


def caught_up(stack: Stack) -> bool:
    answer = readyz(stack)
    lag = answer.json().get("projection_lag") or {"?": 1}
    return answer.status_code == 200 and all(v == 0 for v in lag.values())


FAULTS = """
CREATE TABLE IF NOT EXISTS public.poison_test_faults (
    organisation text PRIMARY KEY, sqlstate text NOT NULL, fail_first bigint);
CREATE TABLE IF NOT EXISTS public.poison_test_applied (organisation text NOT NULL);
CREATE SEQUENCE IF NOT EXISTS public.poison_test_flaky;
CREATE OR REPLACE FUNCTION public.poison_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE f record;
BEGIN
    SELECT * INTO f FROM public.poison_test_faults
    WHERE organisation = NEW.referrer_organisation;
    -- nextval is not rolled back with the failing transaction: it counts attempts.
    IF FOUND AND (f.fail_first IS NULL OR nextval('public.poison_test_flaky') <= f.fail_first)
    THEN
        RAISE EXCEPTION 'test fault for %', NEW.referrer_organisation USING ERRCODE = f.sqlstate;
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION public.poison_test_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.poison_test_applied VALUES (NEW.referrer_organisation);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS poison_test_fault ON proj_referrals.referrals;
CREATE TRIGGER poison_test_fault BEFORE INSERT OR UPDATE ON proj_referrals.referrals
    FOR EACH ROW EXECUTE FUNCTION public.poison_test_fault();
DROP TRIGGER IF EXISTS poison_test_count ON proj_referrals.referrals;
CREATE TRIGGER poison_test_count AFTER INSERT OR UPDATE ON proj_referrals.referrals
    FOR EACH ROW EXECUTE FUNCTION public.poison_test_count();
-- The triggers run as the worker's role, the read side's (infra/postgres/roles.py).
GRANT SELECT ON public.poison_test_faults TO lead_read;
GRANT INSERT ON public.poison_test_applied TO lead_read;
GRANT USAGE ON SEQUENCE public.poison_test_flaky TO lead_read;
"""


@pytest.fixture
def faults(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    """A trigger on the referrals view that fails the rows of chosen organisations."""
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute(FAULTS)
        conn.execute("ALTER SEQUENCE public.poison_test_flaky RESTART")
        try:
            yield conn
        finally:
            conn.execute("DROP TRIGGER IF EXISTS poison_test_fault ON proj_referrals.referrals")
            conn.execute("DROP TRIGGER IF EXISTS poison_test_count ON proj_referrals.referrals")


def test_rows_postgresql_refuses_are_dead_lettered_on_start_and_the_rest_applied(
    stack: Stack, faults: psycopg.Connection[Any]
) -> None:
    tag = f"refused-{uuid.uuid4()}"
    # PostgreSQL refuses this one's row as it refused the NUL of issue 18 (SQLSTATE 22P05);
    # the test trigger stands in for the value, which the events now refuse themselves.
    faults.execute(
        "INSERT INTO public.poison_test_faults VALUES (%s, '22P05', NULL)", (f"{tag}-refused",)
    )
    good = [received(f"{tag}-good-{i}") for i in range(3)]
    refused = received(f"{tag}-refused")
    nul = received(f"{tag}-nul", description="poss \u0000 nul")
    # On the topic before the worker starts: they are there when it comes up.
    stack.consumers.stop()
    stack.publish(EVENTS, 0, [good[0], nul, good[1], refused, good[2]])
    stack.start_consumers()

    wait_until(
        lambda: referral_orgs(stack.settings.dsn, tag) == {f"{tag}-good-{i}" for i in range(3)},
        90,
        "the good referrals around the refused ones",
        stack.procs,
    )
    keys = {nul[0], refused[0]}
    letters = dead_lettered(stack, keys)
    assert letters[refused[0]]["topic"] == EVENTS and letters[refused[0]]["partition"] == 0
    assert "UntranslatableCharacter [22P05]" in letters[refused[0]]["error"]
    # The NUL: refused by decoding now that events refuse it, or else by PostgreSQL
    # (22P05 in a batch's JSON, or psycopg's own check for one row): dead-lettered alike.
    assert any(
        word in letters[nul[0]]["error"]
        for word in ("22P05", "UntranslatableCharacter", "NUL", "U+0000")
    ), letters[nul[0]]["error"]

    wait_until(lambda: caught_up(stack), 60, "no lag and /readyz ready", stack.procs)
    shown = status()
    assert f"lead.events.v1[0]@{letters[refused[0]]['offset']}" in shown, shown
    assert "UntranslatableCharacter [22P05]" in shown
    assert "stuck: none" in shown
    assert stack.consumers.alive()

    faults.execute(
        "DELETE FROM public.poison_test_faults WHERE organisation = %s", (f"{tag}-refused",)
    )
    replayed(stack, letters[refused[0]], f"{tag}-refused")


def test_a_transient_failure_is_retried_then_dead_lettered_or_applied_once(
    stack: Stack, faults: psycopg.Connection[Any]
) -> None:
    tag = f"transient-{uuid.uuid4()}"
    faults.execute(
        "INSERT INTO public.poison_test_faults VALUES (%s, '40001', NULL), (%s, '40001', %s)",
        (f"{tag}-always", f"{tag}-flaky", MAX_ATTEMPTS - 1),
    )
    before, always, after = (received(f"{tag}-{n}") for n in ("before", "always", "after"))
    stack.publish(EVENTS, 1, [before, always, after])
    wait_until(
        lambda: referral_orgs(stack.settings.dsn, tag) == {f"{tag}-before", f"{tag}-after"},
        90,
        "the referrals around the one that always fails",
        stack.procs,
    )
    wait_until(lambda: bool(dead_letters(stack, {always[0]})), 60, "its dead letter", stack.procs)
    error = dead_letters(stack, {always[0]})[always[0]]["error"]
    assert "SerializationFailure [40001]" in error and f"{MAX_ATTEMPTS} attempts" in error, error

    # Failing fewer times than the attempts allowed: applied, once, and not dead-lettered.
    flaky = received(f"{tag}-flaky")
    stack.publish(EVENTS, 1, [flaky])
    wait_until(
        lambda: f"{tag}-flaky" in referral_orgs(stack.settings.dsn, tag),
        60,
        "the referral that failed twice",
        stack.procs,
    )
    applied = faults.execute(
        "SELECT count(*) FROM public.poison_test_applied WHERE organisation = %s",
        (f"{tag}-flaky",),
    ).fetchone()
    assert applied == (1,)
    tried = faults.execute("SELECT last_value FROM public.poison_test_flaky").fetchone()
    assert tried == (MAX_ATTEMPTS,)  # two failures and the attempt that stored it
    assert dead_letters(stack, {flaky[0]}) == {}
    wait_until(lambda: caught_up(stack), 60, "no lag and /readyz ready", stack.procs)

    faults.execute(
        "DELETE FROM public.poison_test_faults WHERE organisation = %s", (f"{tag}-always",)
    )
    replayed(stack, dead_letters(stack, {always[0]})[always[0]], f"{tag}-always")


def stuck_failures(stack: Stack) -> int:
    """How often partition 2's batch has failed so far, as /readyz tells."""
    stuck = readyz(stack).json().get("stuck") or []
    return max((s["failures"] for s in stuck if s["partition"] == 2), default=0)


def test_a_stuck_partition_shows_in_readyz_status_and_metrics_until_it_moves(
    stack: Stack, faults: psycopg.Connection[Any]
) -> None:
    tag = f"stuck-{uuid.uuid4()}"
    # Disk full is PostgreSQL's trouble, not the message's: waited out, never dead-lettered.
    faults.execute("INSERT INTO public.poison_test_faults VALUES (%s, '53100', NULL)", (tag,))
    message = received(tag)
    stack.publish(EVENTS, 2, [message])

    def failing_for_long() -> bool:
        shown = status()
        found = [line for line in shown.splitlines() if "lead.events.v1[2]" in line]
        return any("DiskFull [53100]" in line for line in found) and any(
            f"{n} failures" in shown for n in range(MAX_ATTEMPTS + 2, MAX_ATTEMPTS + 50)
        )

    wait_until(failing_for_long, 90, "the partition stuck past its attempts", stack.procs)
    answer = readyz(stack)
    assert answer.status_code == 503, answer.text
    checks = answer.json()
    assert checks["ready"] is False
    assert "stuck" in checks["reason"] and "lead.events.v1[2]" in checks["reason"], checks
    assert [s["partition"] for s in checks["stuck"] if s["topic"] == EVENTS] == [2]
    metrics = httpx.get(f"{stack.base_url}/metrics", timeout=30).text
    assert any(
        line.startswith("lead_consumer_stuck_seconds{")
        and 'consumer="lead-projections"' in line
        and 'partition="2"' in line
        for line in metrics.splitlines()
    ), metrics

    # PostgreSQL drops every connection meanwhile (as in a restart): still waited out.
    faults.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
        "AND datname = current_database() AND backend_type = 'client backend'"
    )
    failures = stuck_failures(stack)
    wait_until(
        lambda: stuck_failures(stack) > failures, 60, "more failures after that", stack.procs
    )
    faults.execute("DELETE FROM public.poison_test_faults WHERE organisation = %s", (tag,))
    wait_until(
        lambda: referral_orgs(stack.settings.dsn, tag) == {tag}, 60, "the referral", stack.procs
    )
    wait_until(lambda: caught_up(stack), 60, "/readyz ready again", stack.procs)
    assert "stuck: none" in status()
    assert dead_letters(stack, {message[0]}) == {}
    metrics = httpx.get(f"{stack.base_url}/metrics", timeout=30).text
    assert "lead_consumer_stuck_seconds{" not in metrics


def test_the_audit_trail_dead_letters_disclosures_it_cannot_store_and_goes_on(
    stack: Stack,
) -> None:
    tag = f"audit-{uuid.uuid4()}"
    good = [disclosure(f"{tag}-good-{i}") for i in range(2)]
    bad_uuid = disclosure(f"{tag}-bad-uuid", consent_id="not-a-uuid")
    nul = disclosure(f"{tag}-nul", purpose="poss \u0000 nul")
    stack.publish(AUDIT, 0, [good[0], bad_uuid, nul, good[1]])

    def stored() -> set[str]:
        with psycopg.connect(stack.settings.dsn) as conn:
            rows = conn.execute(
                "SELECT disclosure_id FROM proj_disclosures.disclosures "
                "WHERE disclosure_id LIKE %s",
                (f"disclosure:{tag}%",),
            ).fetchall()
        return {r[0] for r in rows}

    wait_until(
        lambda: stored() == {f"disclosure:{tag}-good-{i}" for i in range(2)},
        90,
        "the good disclosures",
        stack.procs,
    )
    keys = {bad_uuid[0], nul[0]}
    letters = dead_lettered(stack, keys)
    assert letters[bad_uuid[0]]["topic"] == AUDIT
    assert "InvalidTextRepresentation [22P02]" in letters[bad_uuid[0]]["error"]
    assert "NUL" in letters[nul[0]]["error"] or "22P05" in letters[nul[0]]["error"]
    wait_until(lambda: caught_up(stack), 60, "/readyz ready", stack.procs)
    assert stack.consumers.alive()
