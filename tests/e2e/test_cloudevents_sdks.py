"""Every message on every topic parses with the official CloudEvents SDKs (issue 21).

Traffic on every topic first: a referral through intake and consent to the prosecutor
(lead.events.v1, lead.prosecution.v1 and its disclosure records on lead.audit.v1), a
participant read (a disclosure record) and a request without a token (an authentication
record), a checkpoint (`lead audit checkpoint`), a poison disclosure record (dead-lettered
by the audit trail) and its replay (`lead deadletter replay`), the dashboards' row changes
and one tombstone as the projections consumer writes one. Then every topic is read from
the beginning with the Python SDK's Kafka binding (`from_structured` / `from_binary`, as
the `content-type` header says) and with the Java SDK's (`tests/jvm`, CloudEventDeserializer).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat
from kafka import KafkaProducer

from consumers.projector import Projector
from events.envelope import CONTENT_TYPE, CloudEvent, structured_headers
from events.topics import AUDIT, DEADLETTER, PROSECUTION, TOPICS, projection_topic
from infra.kafka import security as kafka_security
from infra.kafka.deadletters import REPLAY_HEADER, record_of
from infra.kafka.security import client_kwargs
from infra.postgres.projection_store import RowState
from infra.settings import PROJECT_ROOT, Settings
from projections.referrals import ReferralsProjection
from tests.conftest import run_lead
from tests.e2e.conftest import Backend
from tests.e2e.test_site_scenario_api import referral
from tests.http import api_client
from tests.kafka_reader import Record, read_all
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

PROSECUTOR_ORG = "Prosecuting Attorney's Office"
SOURCE = "urn:lead:site:test-site"
JVM = PROJECT_ROOT / "tests" / "jvm"
CHECKER = JVM / "src" / "main" / "java" / "org" / "lead" / "check" / "ReadEveryTopic.java"
ALL_TOPICS = tuple(spec.name for spec in TOPICS)


@dataclass(frozen=True)
class Traffic:
    person: str
    poison_id: str


def python_sdk(record: Record, topic: str) -> Any:
    """The record as the Python SDK's Kafka binding reads it, by its content type."""
    message = KafkaMessage(headers=record.headers, key=record.key, value=record.value)
    content_type = record.headers["content-type"].decode()
    if content_type.startswith("application/cloudevents"):
        return from_structured(message, JSONFormat())
    return from_binary(message, JSONFormat())


def send(settings: Settings, topic: str, key: bytes, value: bytes | None, headers: Any) -> None:
    producer = KafkaProducer(**client_kwargs(), bootstrap_servers=settings.bootstrap_servers)
    try:
        producer.send(topic, key=key, value=value, headers=headers).get(timeout=30)
    finally:
        producer.close()


@pytest.fixture(scope="module")
def traffic(backend: Backend, people: dict[str, dict[str, str]]) -> Traffic:
    officer, pm, cm = (people[name] for name in ("officer.reyes", "pm.kim", "cm.ortiz"))
    settings = backend.settings
    now = datetime.now(UTC)
    today = date.today()
    client = api_client(backend.base_url, timeout=20)

    def post(path: str, body: dict[str, Any], who: dict[str, str]) -> Any:
        response = client.post(path, json=body, headers=who)
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        return response.json()

    r = post("/v1/referrals", referral("arrest_diversion", 1), officer)
    person = r["person_id"]
    post(f"/v1/referrals/{r['id']}/approve", {}, pm)
    consent = post(
        "/v1/consents",
        {
            "person_id": person,
            "disclosing_party": "REACH",
            "recipients": [{"kind": "organisation", "name": PROSECUTOR_ORG}],
            "purpose": "coordinate cases",
            "information_kinds": ["legal_status", "program_status"],
            "signature_method": "paper",
            "signed_at": (now - timedelta(hours=2)).isoformat(),
            "expires_at": (now + timedelta(days=365)).isoformat(),
        },
        cm,
    )["id"]
    post(
        f"/v1/referrals/{r['id']}/intake",
        {"completed_on": str(today), "case_manager": "cm.ortiz", "consent_id": consent},
        cm,
    )
    wait_until(
        lambda: any(
            x.key == person.encode() for x in read_all(settings.bootstrap_servers, PROSECUTION)
        ),
        60,
        "the enrolment on the prosecution feed",
        backend.procs,
    )
    # A disclosure record (a read of participant-level data) and an authentication record.
    wait_until(
        lambda: client.get(f"/v1/participants/{person}", headers=cm).status_code == 200,
        30,
        "the participant's record",
        backend.procs,
    )
    assert client.get(f"/v1/participants/{person}").status_code == 401
    client.close()

    checkpoint = run_lead("audit", "checkpoint", timeout=120)
    assert checkpoint.returncode == 0, checkpoint.stdout + checkpoint.stderr[-2000:]

    # A disclosure record the audit trail cannot store (no recipient): dead-lettered.
    poison = CloudEvent(
        id=f"disclosure:poison:{uuid.uuid4()}",
        source=SOURCE,
        type="org.lead.disclosure.recorded.v1",
        subject=str(uuid.uuid4()),
        time=now,
        data={"purpose": "a record without a recipient"},
    )
    poison_key = poison.subject.encode()  # type: ignore[union-attr]
    send(settings, AUDIT, poison_key, poison.to_json(), [*structured_headers(), ("x-test", b"1")])

    def letters() -> list[Record]:
        return [x for x in read_all(settings.bootstrap_servers, DEADLETTER) if x.key == poison_key]

    wait_until(lambda: bool(letters()), 60, "the poison's dead letter", backend.procs)
    first = letters()[0]
    # The operator's command, with the replay credential: dead letters from lead.audit.v1
    # go back there like those from lead.events.v1.
    done = run_lead("deadletter", "replay", "--offset", f"{first.partition}:{first.offset}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "replayed 1 messages", done.stdout + done.stderr[-2000:]
    wait_until(lambda: len(letters()) >= 2, 60, "the replay's dead letter", backend.procs)

    # A tombstone as the projections consumer writes one for a deleted row.
    projector = Projector("postgresql://unused", [ReferralsProjection()], source=SOURCE)
    gone = projector.row_message(
        "referrals",
        RowState("referrals", "delete", {"referral_id": str(uuid.uuid4()), "status": "x"}),
    )
    send(settings, gone.topic, gone.key, gone.value, gone.headers)
    return Traffic(person, poison.id)


def test_every_message_on_every_topic_parses_with_the_python_sdk(
    backend: Backend, traffic: Traffic
) -> None:
    counts: dict[str, int] = {}
    failures: list[str] = []
    for topic in ALL_TOPICS:
        records = read_all(backend.settings.bootstrap_servers, topic)
        counts[topic] = len(records)
        for record in records:
            where = f"{topic}[{record.partition}]@{record.offset}"
            if "content-type" not in record.headers:
                failures.append(f"{where}: no content-type header")
                continue
            try:
                event = python_sdk(record, topic)
            except Exception as exc:  # every failure is listed, not only the first
                failures.append(f"{where}: {type(exc).__name__}: {exc}")
                continue
            if not (event.get_id() and event.get_type() and event.get_source()):
                failures.append(f"{where}: no id, type or source")
    print(f"Python SDK, messages parsed per topic: {json.dumps(counts)}")
    assert failures == []
    assert all(counts[topic] > 0 for topic in ALL_TOPICS), counts

    # The replay is the original, with its headers and a content-type.
    audit = read_all(backend.settings.bootstrap_servers, AUDIT)
    copies = [r for r in audit if r.value and json.loads(r.value)["id"] == traffic.poison_id]
    assert len(copies) == 2
    original, replayed = copies
    assert replayed.value == original.value
    assert replayed.headers["content-type"] == CONTENT_TYPE.encode()
    assert replayed.headers["x-test"] == b"1"
    assert replayed.headers[REPLAY_HEADER].startswith(DEADLETTER.encode())
    letter = read_all(backend.settings.bootstrap_servers, DEADLETTER)[-1]
    assert record_of(letter.value)["topic"] == AUDIT
    # The tombstone is a binary-mode CloudEvent with no data.
    tombstones = [
        python_sdk(r, t)
        for t in (projection_topic("referrals"),)
        for r in read_all(backend.settings.bootstrap_servers, t)
        if r.value is None
    ]
    assert tombstones and all(e.get_data() is None for e in tombstones)
    assert {e.get_type() for e in tombstones} == {"org.lead.projection.row_deleted.v1"}
    # Every topic but the tombstones' is structured mode.
    structured = {
        t: all(
            r.headers["content-type"] == CONTENT_TYPE.encode()
            for r in read_all(backend.settings.bootstrap_servers, t)
            if r.value is not None
        )
        for t in ALL_TOPICS
    }
    assert all(structured.values()), structured
    assert traffic.person  # the referral's person reached the feed (the fixture waited)


def jvm_classpath(settings: Settings) -> str:
    """The Java checker's jars, resolved once by Maven into the cache directory (offline
    when ~/.m2 has them, as after the first run; online otherwise)."""
    lib = settings.cache_dir / "cloudevents-jvm-lib"
    stamp = lib / ".complete"
    digest = hashlib.sha256((JVM / "pom.xml").read_bytes()).hexdigest()
    if not (stamp.is_file() and stamp.read_text() == digest):
        mvn = shutil.which("mvn")
        if mvn is None:
            pytest.fail("Maven (mvn) is needed to fetch the CloudEvents Java SDK")
        shutil.rmtree(lib, ignore_errors=True)
        lib.mkdir(parents=True)
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(JVM / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
        ]
        done = subprocess.run([*command, "-o"], capture_output=True, text=True, check=False)
        if done.returncode != 0:  # not all in ~/.m2 yet
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        stamp.write_text(digest)
    return f"{lib}/*"


def test_every_message_on_every_topic_parses_with_the_java_sdk(
    backend: Backend, traffic: Traffic
) -> None:
    java = shutil.which("java")
    assert java is not None, "Java 17+ is needed"
    settings = backend.settings
    auth = kafka_security.auth_for(settings, "admin")
    assert auth.username and auth.password_file and auth.ca_file
    python_counts = {t: len(read_all(settings.bootstrap_servers, t)) for t in ALL_TOPICS}
    run = subprocess.run(
        [
            java,
            "-cp",
            jvm_classpath(settings),
            str(CHECKER),
            settings.bootstrap_servers,
            str(auth.ca_file),
            auth.username,
            str(auth.password_file),
            auth.mechanism,
            *ALL_TOPICS,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(run.stdout)
    lines = run.stdout.splitlines()
    assert not [line for line in lines if line.startswith("FAILED")], run.stdout
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    parsed: dict[str, int] = {}
    for line in lines:
        if line.startswith("TOPIC "):
            _, topic, *fields = line.split()
            values = dict(f.split("=") for f in fields)
            assert values["failed"] == "0" and values["without-content-type"] == "0", line
            parsed[topic] = int(values["parsed"])
    assert set(parsed) == set(ALL_TOPICS)
    # Every message Python read (more may have come since: the API and the notary publish).
    assert all(parsed[t] >= python_counts[t] > 0 for t in ALL_TOPICS), (parsed, python_counts)
