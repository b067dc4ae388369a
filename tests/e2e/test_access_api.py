"""Who may do and see what, on the running API: the whole matrix, scopes, tokens,
idempotent retries, disclosure records, and contact notes that never leave their circle."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from events.base import Role
from events.topics import AUDIT, DASHBOARD_PROJECTIONS, PROSECUTION, projection_topic
from services import access
from services.bootstrap import Container
from tests.e2e.conftest import Backend
from tests.e2e.test_site_scenario_api import referral
from tests.http import api_client
from tests.kafka_reader import read_all
from tests.principals import ONE_PER_ROLE
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

NOTE = f"private-note-{uuid.uuid4()}: slept outside, using daily"


@pytest.fixture(scope="module")
def site(backend: Backend, people: dict[str, dict[str, str]]) -> dict[str, str]:
    """A referral by the officer, an enrolled participant of cm.ortiz with a contact
    note, a consent covering the liaison prosecutor, and a case."""
    now = datetime.now(UTC)
    client = api_client(backend.base_url, timeout=30)

    def post(path: str, body: dict[str, Any], who: str) -> Any:
        response = client.post(path, json=body, headers=people[who])
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        return response.json()

    own = post("/v1/referrals", referral("arrest_diversion", 1), "officer.reyes")
    other = post(
        "/v1/referrals",
        {**referral("community", 1), "referrer": {"principal": "cp.x", "organisation": "DESC"}},
        "pm.kim",
    )
    post(f"/v1/referrals/{own['id']}/approve", {}, "pm.kim")
    consent = post(
        "/v1/consents",
        {
            "person_id": own["person_id"],
            "disclosing_party": "REACH",
            "recipients": [{"kind": "role", "name": "liaison_prosecutor"}],
            "purpose": "coordinate cases",
            "information_kinds": ["legal_status", "program_status", "progress_summary"],
            "signature_method": "e_signature",
            "signed_at": (now - timedelta(hours=1)).isoformat(),
            "expires_at": (now + timedelta(days=365)).isoformat(),
        },
        "cm.ortiz",
    )
    post(
        f"/v1/referrals/{own['id']}/intake",
        {
            "completed_on": str(date.today()),
            "case_manager": "cm.ortiz",
            "consent_id": consent["id"],
        },
        "cm.ortiz",
    )
    contact = post(
        f"/v1/participants/{own['person_id']}/contacts",
        {"kind": "office", "contacted_on": now.isoformat(), "minutes": 15, "notes": NOTE},
        "cm.ortiz",
    )
    case = post(
        "/v1/cases",
        {
            "person_id": own["person_id"],
            "case_number": f"26-1-{uuid.uuid4().hex[:6]}",
            "court": "KCDC",
            "jurisdiction": "King County",
            "incident_date": str(date.today()),
            "filing_date": str(date.today()),
            "charges": [
                {"statute_code": "9A.56.050", "description": "theft 3", "severity": "misdemeanor"}
            ],
        },
        "dpa.nguyen",
    )
    client.close()
    return {
        "referral": own["id"],
        "other_referral": other["id"],
        "person": own["person_id"],
        "consent": consent["id"],
        "case": case["id"],
        "position": str(contact["position"]),
    }


def concrete(method: str, path: str, site: dict[str, str]) -> str:
    """A path with its parameters filled: real records for reads; unknown ids for writes
    (a permitted write then answers 404 or 422 and changes nothing)."""
    unknown = str(uuid.uuid4())
    values = {
        "referral_id": site["referral"],
        "person_id": site["person"],
        "case_manager": "cm.ortiz",
        "projection": "referrals",
        "name": f"nobody-{unknown}",
        "id": unknown,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def call(client: httpx.Client, method: str, url: str, headers: dict[str, str]) -> int:
    if url.startswith("/v1/subscriptions/"):
        with client.stream("GET", url, headers=headers) as response:
            return response.status_code
    params = {"since": "2026-01-01T00:00:00Z"} if url == "/v1/owg-agenda" else None
    if method == "POST":
        return client.post(url, json={}, headers=headers).status_code
    return client.get(url, params=params, headers=headers).status_code


def test_every_endpoint_for_every_role_gives_the_expected_answer(
    backend: Backend, people: dict[str, dict[str, str]], site: dict[str, str]
) -> None:
    walked = 0
    wrong: list[str] = []
    with api_client(backend.base_url, timeout=30) as client:
        for (method, path), rule in sorted(access.MATRIX.items()):
            url = concrete(method, path, site)
            anonymous = call(client, method, url, {})
            if rule.public:
                if anonymous in (401, 403) or (anonymous >= 500 and path != "/readyz"):
                    wrong.append(f"{method} {path} public: {anonymous}")
                continue
            if anonymous != 401:
                wrong.append(f"{method} {path} without a token: {anonymous}, expected 401")
            for role in access.PEOPLE_ROLES:
                status = call(client, method, url, people[ONE_PER_ROLE[role]])
                walked += 1
                if not rule.allows(role) and status != 403:
                    wrong.append(f"{method} {path} as {role.value}: {status}, expected 403")
                if rule.allows(role) and (status in (401, 403) or status >= 500):
                    wrong.append(f"{method} {path} as {role.value}: {status}, expected access")
    assert wrong == []
    assert walked == len([r for r in access.MATRIX.values() if not r.public]) * 9
    print(f"walked {walked} (endpoint, role) pairs")


def test_scopes_answer_as_if_the_record_did_not_exist(
    backend: Backend, people: dict[str, dict[str, str]], site: dict[str, str]
) -> None:
    with api_client(backend.base_url, timeout=30) as client:

        def get(url: str, who: str) -> httpx.Response:
            return client.get(url, headers=people[who])

        # An officer sees the status of their own referral, not another's, nor the details.
        own = get(
            f"/v1/referrals/{site['referral']}?min_position={site['position']}", "officer.reyes"
        )
        assert own.status_code == 200, own.text
        assert set(own.json()) == {
            "referral_id",
            "pathway",
            "status",
            "received_at",
            "eligibility",
            "position",
        }
        # Enrolled, but the consent does not name the police: participation stays private.
        assert own.json()["status"] == "closed"
        assert get(f"/v1/referrals/{site['other_referral']}", "officer.reyes").status_code == 404
        missing = get(f"/v1/referrals/{uuid.uuid4()}", "officer.reyes")
        assert missing.status_code == 404
        assert (
            missing.json()["detail"]
            == get(f"/v1/referrals/{site['other_referral']}", "officer.reyes").json()["detail"]
        )
        listed = get("/v1/referrals?limit=1000", "officer.reyes").json()["items"]
        assert site["referral"] in {r["referral_id"] for r in listed}
        assert site["other_referral"] not in {r["referral_id"] for r in listed}

        # A case manager works their own participants only; the project manager all.
        record = f"/v1/participants/{site['person']}"
        assert NOTE in get(record, "cm.ortiz").text
        assert NOTE in get(record, "pm.kim").text
        assert get(record, "cm.bauer").status_code == 404
        contact = {"kind": "phone", "contacted_on": datetime.now(UTC).isoformat(), "minutes": 5}
        refused = client.post(f"{record}/contacts", json=contact, headers=people["cm.bauer"])
        assert refused.status_code == 404
        assert get("/v1/caseloads/cm.ortiz", "cm.bauer").status_code == 404
        assert get("/v1/caseloads/cm.ortiz", "cm.ortiz").status_code == 200
        mine = get("/v1/caseloads", "cm.bauer").json()["items"]
        assert {c["case_manager"] for c in mine} <= {"cm.bauer"}


def test_a_revoked_token_stops_working_at_once(
    backend: Backend, container: Container, people: dict[str, dict[str, str]]
) -> None:
    name = f"temp.{uuid.uuid4().hex[:8]}"
    with api_client(backend.base_url, timeout=30) as client:
        issued = client.post(
            "/v1/principals",
            json={"name": name, "role": "evaluator", "organisation": "UW"},
            headers=people["admin.pcg"],
        )
        assert issued.status_code == 201, issued.text
        token = {"authorization": f"Bearer {issued.json()['token']}"}
        assert client.get("/v1/me", headers=token).json()["principal"] == name
        revoked = client.post(
            f"/v1/principals/{name}/revoke",
            json={"reason": "study ended"},
            headers=people["admin.pcg"],
        )
        assert revoked.status_code == 200
        assert client.get("/v1/me", headers=token).status_code == 401
        listed = client.get("/v1/principals?limit=1000", headers=people["admin.pcg"]).json()
        assert "token" not in json.dumps(listed)
        [entry] = [p for p in listed["items"] if p["name"] == name]
        assert entry["revoked_reason"] == "study ended"


def test_an_idempotent_retry_records_one_referral(
    backend: Backend, container: Container, people: dict[str, dict[str, str]]
) -> None:
    tag = f"idem-{uuid.uuid4()}"
    body = {**referral("community", 0), "referrer": {"principal": "x", "organisation": tag}}
    key = {"idempotency-key": str(uuid.uuid4()), **people["pm.kim"]}
    with api_client(backend.base_url, timeout=30) as client:
        first = client.post("/v1/referrals", json=body, headers=key)
        again = client.post("/v1/referrals", json=body, headers=key)
        changed = client.post(
            "/v1/referrals", json={**body, "pathway": "social_contact"}, headers=key
        )
    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 422
    assert "Idempotency-Key" in changed.json()["detail"]
    app = container.application
    events = list(app.events.get(uuid.UUID(first.json()["id"])))
    assert len(events) == 2  # received and screened, once
    received = [
        n
        for n in app.recorder.select_notifications(start=first.json()["position"] - 5, limit=50)
        if tag.encode() in n.state
    ]
    assert len(received) == 1


def test_every_participant_level_answer_is_recorded_as_a_disclosure(
    backend: Backend, people: dict[str, dict[str, str]], site: dict[str, str]
) -> None:
    person = site["person"]
    reads = {
        ("pm.kim", f"/v1/referrals/{site['referral']}"),
        ("cm.ortiz", f"/v1/participants/{person}"),
        ("dpa.nguyen", f"/v1/liaison/cases/{person}"),
        ("officer.reyes", f"/v1/referrals/{site['referral']}"),
    }
    with api_client(backend.base_url, timeout=30) as client:
        wait_until(
            lambda: (
                client.get(f"/v1/liaison/cases/{person}", headers=people["dpa.nguyen"]).status_code
                == 200
            ),
            60,
            "the liaison view",
            backend.procs,
        )
        for who, url in reads:
            assert client.get(url, headers=people[who]).status_code == 200, (who, url)

    def recorded() -> set[tuple[str, str]]:
        found = set()
        for r in read_all(backend.settings.bootstrap_servers, AUDIT):
            if r.key != person.encode():
                continue
            data = json.loads(r.value)["data"]
            if data["channel"].startswith("api:"):
                found.add((data.get("recipient_principal") or "", data["channel"]))
        return found

    expected = {
        ("pm.kim", "api:/v1/referrals/{referral_id}"),
        ("cm.ortiz", "api:/v1/participants/{person_id}"),
        ("dpa.nguyen", "api:/v1/liaison/cases/{person_id}"),
        ("officer.reyes", "api:/v1/referrals/{referral_id}"),
    }
    wait_until(lambda: expected <= recorded(), 30, "a record of every read", backend.procs)


def test_a_prosecutor_never_receives_contact_notes(
    backend: Backend, people: dict[str, dict[str, str]], site: dict[str, str]
) -> None:
    dpa = people["dpa.nguyen"]
    with api_client(backend.base_url, timeout=30) as client:
        wait_until(
            lambda: (
                client.get(f"/v1/liaison/cases/{site['person']}", headers=dpa).status_code == 200
            ),
            60,
            "the liaison view",
            backend.procs,
        )
        for (method, path), rule in access.MATRIX.items():
            if method != "GET" or path.startswith("/v1/subscriptions"):
                continue
            answer = client.get(
                concrete(method, path, site),
                params={"since": "2026-01-01T00:00:00Z", "limit": 1000},
                headers=dpa,
            )
            assert NOTE not in answer.text, path
            assert rule.allows(Role.LIAISON_PROSECUTOR) or answer.status_code == 403
    for topic in (PROSECUTION, AUDIT):
        assert all(
            NOTE.encode() not in r.value
            for r in read_all(backend.settings.bootstrap_servers, topic)
        )
    for name in DASHBOARD_PROJECTIONS:
        for r in read_all(backend.settings.bootstrap_servers, projection_topic(name)):
            assert r.value is None or NOTE.encode() not in r.value, name


def test_health_readiness_and_metrics_need_no_token_and_tell_the_truth(
    backend: Backend, container: Container, site: dict[str, str]
) -> None:
    with api_client(backend.base_url, timeout=30) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code in (200, 503)
        checks = ready.json()
        assert checks["postgresql"] == "ok" and checks["kafka"] == "ok"
        assert set(checks["projection_lag"]) >= {"referrals", "queue", "caseloads", "audit"}
        assert checks["ready"] == (ready.status_code == 200)
        client.get(f"/v1/referrals/{site['referral']}")  # counted (a 401)
        text = client.get("/metrics").text
    appended = container.application.recorder.max_notification_id() or 0
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["lead_events_appended"] >= int(site["position"])
    assert values["lead_events_appended"] <= appended
    assert 'lead_projection_lag{projection="queue"}' in values
    assert any(
        k.startswith("lead_http_requests_total") and 'route="/v1/referrals/{referral_id}"' in k
        for k in values
    )
    assert site["referral"] not in text  # route templates, never ids
