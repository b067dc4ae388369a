"""Protecting people on the running stack: sensitive fields never leave encrypted; a person
forgotten is unreadable in every table and topic, while counts, the chain and replays hold;
an auditor replays the prosecutor's view as it stood before a revocation."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer
from psycopg import sql

from infra.kafka.security import client_kwargs
from tests.conftest import run_lead
from tests.e2e.conftest import Backend
from tests.http import api_client
from tests.kafka_reader import read_all
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

TAG = uuid.uuid4().hex[:10]
GIVEN, FAMILY = f"Zebulon{TAG}", f"Quillfeather{TAG}"
NOTE = f"note-{TAG}: talked about detox and the warrant in Tacoma"
GOAL = f"goal-{TAG}: get my daughter back"
SECRETS = (GIVEN, FAMILY, NOTE, GOAL)


def lead(*args: str) -> subprocess.CompletedProcess[str]:
    return run_lead(*args, timeout=600)


def tables_holding(dsn: str, text: str) -> list[str]:
    """Every table of every schema whose rows contain `text` (as text, or as bytes)."""
    needle_hex = text.encode().hex()
    found = []
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM {} AS t WHERE t::text LIKE %s OR t::text LIKE %s"
                ).format(sql.Identifier(schema, table)),
                (f"%{text}%", f"%{needle_hex}%"),
            ).fetchone()
            if row and row[0]:
                found.append(f"{schema}.{table}")
    return found


def topics_holding(bootstrap: str, text: str) -> list[str]:
    consumer = KafkaConsumer(**client_kwargs(), bootstrap_servers=bootstrap, group_id=None)
    topics = sorted(t for t in consumer.topics() if not t.startswith("__"))
    consumer.close()
    needle = text.encode()
    return [
        t
        for t in topics
        if any(
            needle in (r.value or b"") or needle in (r.key or b"") for r in read_all(bootstrap, t)
        )
    ]


def test_a_forgotten_person_is_unreadable_everywhere_and_the_rest_holds(
    backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    now = datetime.now(UTC)
    client = api_client(backend.base_url, timeout=30)

    def post(path: str, body: dict[str, Any], who: str) -> Any:
        answer = client.post(path, json=body, headers=people[who])
        assert answer.status_code in (200, 201), f"{path}: {answer.text}"
        return answer.json()

    referral = post(
        "/v1/referrals",
        {
            "pathway": "arrest_diversion",
            "referrer": {"principal": "officer.reyes", "organisation": "Seattle PD"},
            "incident": {"offense_code": "69.50.4013", "description": "possession"},
            "person": {"given_name": GIVEN, "family_name": FAMILY, "birth_date": "1981-03-04"},
        },
        "officer.reyes",
    )
    person = referral["person_id"]
    post(f"/v1/referrals/{referral['id']}/approve", {}, "pm.kim")
    consent = post(
        "/v1/consents",
        {
            "person_id": person,
            "disclosing_party": "REACH",
            "recipients": [{"kind": "role", "name": "liaison_prosecutor"}],
            "purpose": "coordinate cases",
            "information_kinds": ["legal_status"],
            "signature_method": "paper",
            "signed_at": (now - timedelta(hours=3)).isoformat(),
            "expires_at": (now + timedelta(days=300)).isoformat(),
        },
        "cm.ortiz",
    )
    post(
        f"/v1/referrals/{referral['id']}/intake",
        {
            "completed_on": str(date.today()),
            "case_manager": "cm.ortiz",
            "consent_id": consent["id"],
        },
        "cm.ortiz",
    )
    post(f"/v1/participants/{person}/goals", {"text": GOAL, "domain": "relationships"}, "cm.ortiz")
    post(
        f"/v1/participants/{person}/contacts",
        {"kind": "office", "contacted_on": now.isoformat(), "minutes": 20, "notes": NOTE},
        "cm.ortiz",
    )
    case = post(
        "/v1/cases",
        {
            "person_id": person,
            "case_number": f"26-{TAG}",
            "court": "KCDC",
            "jurisdiction": "King County",
            "incident_date": str(date.today()),
            "filing_date": str(date.today()),
            "charges": [
                {"statute_code": "9A.56.050", "description": "theft", "severity": "misdemeanor"}
            ],
        },
        "dpa.nguyen",
    )
    shown = client.get(
        f"/v1/liaison/cases/{person}?min_position={case['position']}", headers=people["dpa.nguyen"]
    )
    assert shown.status_code == 200, shown.text
    consented_at = datetime.now(UTC)
    revoked = post(
        f"/v1/consents/{consent['id']}/revoke",
        {"effective_at": datetime.now(UTC).isoformat()},
        "cm.ortiz",
    )
    assert (
        client.get(f"/v1/liaison/cases/{person}", headers=people["dpa.nguyen"]).status_code == 404
    )

    # Before forgetting: the case manager reads the record; nothing else holds it in clear.
    record = client.get(f"/v1/participants/{person}", headers=people["cm.ortiz"])
    assert NOTE in record.text and GOAL in record.text
    bootstrap = backend.settings.bootstrap_servers
    for secret in SECRETS:
        assert tables_holding(backend.settings.dsn, secret) == [], secret
    assert topics_holding(bootstrap, NOTE) == [] and topics_holding(bootstrap, GIVEN) == []

    # An auditor replays the prosecutor's view as it stood before the revocation.
    then = lead(
        "audit",
        "replay",
        "--as-of",
        consented_at.isoformat(),
        "--person",
        person,
        "--only",
        "liaison",
    )
    assert then.returncode == 0, then.stderr[-2000:]
    assert f"{person} under consent {consent['id']}" in then.stdout
    later = lead(
        "audit",
        "replay",
        "--as-of",
        datetime.now(UTC).isoformat(),
        "--person",
        person,
        "--only",
        "liaison",
        "--since",
        consented_at.isoformat(),
    )
    assert later.returncode == 0, later.stderr[-2000:]
    assert f"{person} under consent" not in later.stdout
    assert "org.lead.consent.revoked.v1" in later.stdout  # what changed in between

    metrics = ["referrals-by-pathway-and-month", "time-to-intake", "contacts-per-participant-month"]

    def figures() -> list[Any]:
        return [
            client.get(
                f"/v1/metrics/{m}?min_position={revoked['position']}", headers=people["ev.park"]
            ).json()
            for m in metrics
        ]

    before = figures()
    forgot = lead("privacy", "forget", "--person", person, "--reason", "asked to be forgotten")
    assert forgot.returncode == 0, forgot.stderr[-2000:]

    def erased() -> bool:
        trail = client.get(
            "/v1/audit/trail",
            params={"person_id": person, "limit": 1000},
            headers=people["aud.ito"],
        ).json()
        return any(
            e["event_type"] == "org.lead.privacy.person_forgotten.v1" for e in trail["events"]
        )

    wait_until(erased, 60, "the erasure in the audit trail", backend.procs)
    after_record = client.get(f"/v1/participants/{person}", headers=people["cm.ortiz"])
    assert NOTE not in after_record.text and GOAL not in after_record.text
    for secret in SECRETS:
        assert tables_holding(backend.settings.dsn, secret) == [], secret
        assert topics_holding(bootstrap, secret) == [], secret
    assert figures() == before  # counts and metrics stay correct

    verified = lead("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
    assert "store" in verified.stdout and "intact" in verified.stdout
    trail = lead("audit", "trail", "--person", person)
    assert "org.lead.privacy.person_forgotten.v1" in trail.stdout
    again = lead(
        "audit",
        "replay",
        "--as-of",
        consented_at.isoformat(),
        "--person",
        person,
        "--only",
        "liaison",
    )
    assert again.returncode == 0, again.stderr[-2000:]  # replays still run
    client.close()
