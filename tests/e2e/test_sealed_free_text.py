"""Free text sealed, on the running stack: a marker in every free-text field of every
command the API takes about a person never crosses `lead.events.v1` or sits in the event
store in clear; the reader each field is for sees it through the API; after
`lead privacy forget` no answer shows it and no byte holds it. Events stored in clear
before sealing (as the code before it wrote them) still load.

The fields: every `SENSITIVE` text path of docs/sealed-fields.md that a request sets.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from events.base import SEALED, Actor, Role
from events.referral import Incident, Pathway, Person, Referrer
from services import commands as c
from services.bootstrap import Container
from tests.conftest import run_lead
from tests.e2e.conftest import Backend
from tests.http import api_client
from tests.kafka_reader import read_all
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]

FIELDS = (
    "incident.description",
    "incident.place",
    "declined.reason",
    "withdrawn.note",
    "consent.purpose",
    "consent.expiration_event",
    "revoked.reason",
    "expired.by_event",
    "goal.text",
    "goal_progress.note",
    "goal_revised.text",
    "contact.place",
    "contact.notes",
    "summary.summary",
    "status.reason",
    "case_manager.reason",
    "charge.description",
    "charging.note",
    "recommendation.recommendation",
    "hearing.kind",
)
MARK = {field: f"mk{RUN}x{i:02d}" for i, field in enumerate(FIELDS)}
"""One marker per field: unique, short enough for every field, in no other text."""


def events_topic_holding(bootstrap: str, needles: dict[str, str]) -> list[str]:
    """The fields whose marker's bytes are anywhere in a record of `lead.events.v1`."""
    records = read_all(bootstrap, "lead.events.v1")
    assert records, "lead.events.v1 is empty"
    blob = b"\n".join((r.key or b"") + b"\0" + r.value for r in records)
    return [f for f, m in needles.items() if m.encode() in blob]


def tables_holding(dsn: str, needles: dict[str, str], *, projections: bool) -> dict[str, list[str]]:
    """Per field, the tables whose rows hold its marker: as text, or as bytes of a bytea
    column (checked raw and hex-encoded). Projection schemas (`proj_*`) only if asked."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            if schema.startswith("proj_") and not projections:
                continue
            name = sql.Identifier(schema, table)
            bytea = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s AND data_type = 'bytea'",
                    (schema, table),
                ).fetchall()
            ]
            for field, marker in needles.items():
                raw = [
                    sql.SQL("position(%s::bytea in coalesce({}, ''::bytea)) > 0").format(
                        sql.Identifier(col)
                    )
                    for col in bytea
                ]
                condition = sql.SQL(" OR ").join(
                    [sql.SQL("t::text LIKE %s"), sql.SQL("t::text LIKE %s"), *raw]
                )
                params: list[Any] = [f"%{marker}%", f"%{marker.encode().hex()}%"]
                params += [marker.encode()] * len(bytea)
                hit = conn.execute(
                    sql.SQL("SELECT EXISTS (SELECT 1 FROM {} AS t WHERE {})").format(
                        name, condition
                    ),
                    params,
                ).fetchone()
                if hit and hit[0]:
                    found.setdefault(field, []).append(f"{schema}.{table}")
    return found


def test_every_free_text_field_is_sealed_shown_to_its_reader_and_gone_after_forget(
    backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    now = datetime.now(UTC)
    today = date.today()
    client = api_client(backend.base_url, timeout=30)
    positions: list[int] = [0]

    def post(path: str, body: dict[str, Any], who: str) -> Any:
        answer = client.post(path, json=body, headers=people[who])
        assert answer.status_code in (200, 201), f"{path}: {answer.text}"
        positions.append(int(answer.json().get("position") or 0))
        return answer.json()

    def get(path: str, who: str, **params: Any) -> Any:
        answer = client.get(
            path, params={"min_position": max(positions), **params}, headers=people[who]
        )
        assert answer.status_code == 200, f"{path}: {answer.text}"
        return answer.json()

    def referral(**incident: Any) -> dict[str, Any]:
        return {
            "pathway": "arrest_diversion",
            "referrer": {"principal": "officer.reyes", "organisation": "Seattle PD"},
            "incident": {"offense_code": "69.50.4013", "description": "possession", **incident},
            "person": {"given_name": f"Sealy{RUN}", "family_name": "Doe"},
        }

    # One person, every free-text field of every command about them.
    enrolling = post(
        "/v1/referrals",
        referral(description=MARK["incident.description"], place=MARK["incident.place"]),
        "officer.reyes",
    )
    person = enrolling["person_id"]
    declined = post("/v1/referrals", {**referral(), "person_id": person}, "officer.reyes")
    post(
        f"/v1/referrals/{declined['id']}/decline",
        {"reason": MARK["declined.reason"]},
        "pm.kim",
    )
    withdrawn = post("/v1/referrals", {**referral(), "person_id": person}, "officer.reyes")
    post(
        f"/v1/referrals/{withdrawn['id']}/withdraw",
        {"kind": "withdrew", "note": MARK["withdrawn.note"]},
        "cm.ortiz",
    )
    post(f"/v1/referrals/{enrolling['id']}/approve", {}, "pm.kim")

    def consent(**extra: Any) -> Any:
        return post(
            "/v1/consents",
            {
                "person_id": person,
                "disclosing_party": "REACH",
                "recipients": [{"kind": "role", "name": "liaison_prosecutor"}],
                "purpose": "coordinate cases",
                "information_kinds": ["legal_status", "program_status", "progress_summary"],
                "signature_method": "paper",
                "signed_at": (now - timedelta(hours=3)).isoformat(),
                **extra,
            },
            "cm.ortiz",
        )

    standing = consent(
        purpose=MARK["consent.purpose"],
        expiration_event=MARK["consent.expiration_event"],
        expires_at=(now + timedelta(days=300)).isoformat(),
    )
    revoked = consent(expires_at=(now + timedelta(days=300)).isoformat())
    ending = consent(expiration_event="the end of the pending case")
    post(
        f"/v1/referrals/{enrolling['id']}/intake",
        {"completed_on": str(today), "case_manager": "cm.ortiz", "consent_id": standing["id"]},
        "cm.ortiz",
    )
    post(
        f"/v1/consents/{revoked['id']}/revoke",
        {"effective_at": datetime.now(UTC).isoformat(), "reason": MARK["revoked.reason"]},
        "cm.ortiz",
    )
    post(
        f"/v1/consents/{ending['id']}/expire",
        {"expired_at": datetime.now(UTC).isoformat(), "by_event": MARK["expired.by_event"]},
        "cm.ortiz",
    )
    participant = f"/v1/participants/{person}"
    post(f"{participant}/goals", {"text": MARK["goal.text"], "domain": "housing"}, "cm.ortiz")
    [goal] = get(participant, "cm.ortiz")["goals"]
    assert goal["text"] == MARK["goal.text"]  # before it is reworded
    goal_id = goal["goal_id"]
    post(
        f"{participant}/goals/progress",
        {"goal_id": goal_id, "note": MARK["goal_progress.note"]},
        "cm.ortiz",
    )
    post(
        f"{participant}/contacts",
        {
            "kind": "office",
            "contacted_on": datetime.now(UTC).isoformat(),
            "minutes": 20,
            "place": MARK["contact.place"],
            "notes": MARK["contact.notes"],
        },
        "cm.ortiz",
    )
    post(
        f"{participant}/goals/revision",
        {"goal_id": goal_id, "text": MARK["goal_revised.text"]},
        "cm.ortiz",
    )
    post(
        f"{participant}/progress-summaries",
        {
            "recipient_organisation": "Prosecuting Attorney's Office",
            "recipient_role": "liaison_prosecutor",
            "summary": MARK["summary.summary"],
        },
        "cm.ortiz",
    )
    post(
        f"{participant}/status",
        {"status": "inactive", "reason": MARK["status.reason"]},
        "cm.ortiz",
    )
    case = post(
        "/v1/cases",
        {
            "person_id": person,
            "case_number": f"26-{RUN}",
            "court": "KCDC",
            "jurisdiction": "King County",
            "incident_date": str(today - timedelta(days=400)),
            "filing_date": str(today - timedelta(days=300)),
            "charges": [
                {
                    "statute_code": "9A.56.050",
                    "description": MARK["charge.description"],
                    "severity": "misdemeanor",
                }
            ],
        },
        "dpa.nguyen",
    )
    cases = f"/v1/cases/{case['id']}"
    post(
        f"{cases}/charging-decisions",
        {
            "decision": "more_evidence_needed",
            "decided_on": str(today),
            "note": MARK["charging.note"],
        },
        "dpa.nguyen",
    )
    post(
        f"{cases}/recommendations",
        {"recommendation": MARK["recommendation.recommendation"], "recommended_on": str(today)},
        "dpa.nguyen",
    )
    post(
        f"{cases}/hearings",
        {
            "hearing_at": (now + timedelta(days=20)).isoformat(),
            "kind": MARK["hearing.kind"],
            "court": "KCDC",
        },
        "dpa.nguyen",
    )
    post(
        f"{participant}/case-manager",
        {"case_manager": "cm.bauer", "reason": MARK["case_manager.reason"]},
        "pm.kim",
    )

    # What each reader is shown: their own view, through the API.
    def shown() -> dict[str, str]:
        """Per reader, the text of every answer they get about the person."""
        referrals = [
            get(f"/v1/referrals/{r['id']}", "cm.bauer") for r in (enrolling, declined, withdrawn)
        ]
        trail = get("/v1/audit/trail", "aud.ito", person_id=person, limit=1000)
        liaison = get(f"/v1/liaison/cases/{person}", "dpa.nguyen")
        return {
            "staff": str(referrals) + str(get(participant, "pm.kim")),
            "auditor": str(trail),
            "liaison": str(liaison),
        }

    readers = {
        "staff": (
            "incident.description",
            "incident.place",
            "declined.reason",
            "goal_progress.note",
            "goal_revised.text",
            "contact.place",
            "contact.notes",
        ),
        "auditor": (
            "declined.reason",
            "withdrawn.note",
            "consent.purpose",
            "consent.expiration_event",
            "revoked.reason",
            "expired.by_event",
            "status.reason",
            "case_manager.reason",
            "charging.note",
            "hearing.kind",
        ),
        "liaison": (
            "summary.summary",
            "charge.description",
            "recommendation.recommendation",
            "hearing.kind",
        ),
    }
    covered = {f for fields in readers.values() for f in fields} | {"goal.text"}
    assert covered == set(FIELDS)  # every field has a reader who sees it

    def every_reader_sees_theirs() -> bool:
        answers = shown()
        return all(MARK[f] in answers[who] for who, fields in readers.items() for f in fields)

    wait_until(every_reader_sees_theirs, 60, "every reader's view", backend.procs)
    answers = shown()
    assert SEALED not in answers["liaison"]
    # Contact notes and goals are the case record's: not the auditor's nor the prosecutor's.
    for private in ("contact.notes", "goal_progress.note", "goal_revised.text"):
        assert MARK[private] not in answers["auditor"] + answers["liaison"], private

    # Sealed on the wire and in the store, everywhere but the views that show them. (The
    # views are fed from lead.events.v1: the last command's words shown, all are on it.)
    bootstrap = backend.settings.bootstrap_servers
    dsn = backend.settings.dsn
    assert events_topic_holding(bootstrap, MARK) == []
    assert tables_holding(dsn, MARK, projections=False) == {}

    # Forgotten: no answer shows a marker, and no byte of the topic or the store holds one.
    forgot = run_lead(
        "privacy", "forget", "--person", person, "--reason", "asked to be forgotten", timeout=600
    )
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
    after = shown()
    left = {who: [f for f in FIELDS if MARK[f] in text] for who, text in after.items()}
    assert left == {"staff": [], "auditor": [], "liaison": []}
    assert events_topic_holding(bootstrap, MARK) == []
    assert tables_holding(dsn, MARK, projections=True) == {}  # the views erased theirs too
    client.close()


def test_events_stored_in_clear_before_sealing_still_load(
    backend: Backend, container: Container, people: dict[str, dict[str, str]]
) -> None:
    """As the code before sealing wrote them: an application without the keys stores
    the words in clear. The views show them, and the application loads them to act on."""
    old_words = f"stored-in-clear-{RUN}"
    before = container.sealed_application  # no sealer: stores what it is given, in clear
    receipt = before.receive_referral(
        c.ReceiveReferral(
            pathway=Pathway.ARREST_DIVERSION,
            referrer=Referrer(principal="officer.reyes", organisation="Seattle PD"),
            incident=Incident(offense_code="69.50.4013", description=old_words),
            person=Person(given_name=f"Old{RUN}", family_name="Doe"),
        ),
        Actor(principal="officer.reyes", role=Role.OFFICER, organisation="Seattle PD"),
    )
    client = api_client(backend.base_url, timeout=30)
    declined = client.post(
        f"/v1/referrals/{receipt.id}/decline",
        json={"reason": "no capacity this month"},
        headers=people["pm.kim"],
    )
    assert declined.status_code in (200, 201), declined.text  # the aggregate loaded from clear text
    view: Callable[[], Any] = lambda: client.get(  # noqa: E731
        f"/v1/referrals/{receipt.id}",
        params={"min_position": declined.json()["position"]},
        headers=people["pm.kim"],
    ).json()
    shown = view()
    assert shown["incident"]["description"] == old_words
    assert shown["closed_reason"] == "no capacity this month"
    client.close()
