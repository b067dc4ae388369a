"""Hostile input through the whole pipeline: API, store, relay, workers and views.

Every value generated for a text field is either refused with a 422 naming the field,
or stored and read back intact (NFC-normalised) wherever the reader may see it; after
all of it no projection is stuck and reads at the last position answer. Beside it, the
defects found from outside (issue 18) each with the request that showed them.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.text import unusable_character
from services.bootstrap import Container
from services.http.limits import DEFAULT_MAX_BODY_BYTES
from tests.e2e.conftest import Backend
from tests.factories import referral_body
from tests.http import api_client

pytestmark = pytest.mark.e2e

NASTY = (
    "\u0000\u0001\u0007\u0008\u000b\u000c\u000d\u001b\u001f\u007f\u0085\u009f"  # controls
    "\t\n\r\n"  # kept
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidi marks
    "\u0301\u0308\u00e9e\u0065\u0301\u1e9b\u0323"  # combining, to normalise
    "\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0010ffff"  # non-characters
    "\ud800\udbff\udc00\udfff"  # halves of surrogate pairs (sent as JSON escapes)
    "\u00a0\u2028\u2029\ufeff\U0001f600日本 '\u02bc\"\\/<>&%;--"
)

TEXT = st.one_of(
    st.text(st.characters(codec=None), min_size=1, max_size=60),  # all of Unicode
    st.text(st.sampled_from(NASTY), min_size=1, max_size=30),
    st.sampled_from(["x" * 100_000, "é" * 2_000, "a\u0000" * 10, " ", "\r\n"]),
)


def typed(value: str) -> str:
    """What `Text` keeps of a value it accepts."""
    return unicodedata.normalize("NFC", value.replace("\r\n", "\n"))


def usable(value: str) -> bool:
    return not any(unusable_character(c) for c in value.replace("\r\n", "\n"))


@dataclass
class Site:
    client: httpx.Client
    people: dict[str, dict[str, str]]
    person: str
    case: str
    position: int

    def post(self, path: str, body: dict[str, Any], who: str) -> httpx.Response:
        # Sent as a JSON encoder sends it: what is not plain ASCII as \\u escapes.
        return self.client.post(
            path,
            content=json.dumps(body).encode(),
            headers={**self.people[who], "content-type": "application/json"},
        )

    def ok(self, path: str, body: dict[str, Any], who: str) -> Any:
        response = self.post(path, body, who)
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        self.position = max(self.position, response.json()["position"])
        return response.json()

    def read(self, path: str, who: str, position: int) -> Any:
        response = self.client.get(
            path, params={"min_position": position}, headers=self.people[who], timeout=60
        )
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return response.json()


@pytest.fixture(scope="module")
def site(backend: Backend, people: dict[str, dict[str, str]]) -> Iterator[Site]:
    """An enrolled participant of cm.ortiz whose consent covers the liaison prosecutor,
    and an open case of theirs."""
    now = datetime.now(UTC)
    with api_client(backend.base_url, timeout=60) as client:
        s = Site(client, people, "", "", 0)
        referral = s.ok("/v1/referrals", referral_body(), "officer.reyes")
        s.ok(f"/v1/referrals/{referral['id']}/approve", {}, "pm.kim")
        consent = s.ok(
            "/v1/consents",
            {
                "person_id": referral["person_id"],
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
        s.ok(
            f"/v1/referrals/{referral['id']}/intake",
            {
                "completed_on": str(date.today()),
                "case_manager": "cm.ortiz",
                "consent_id": consent["id"],
            },
            "cm.ortiz",
        )
        s.person = referral["person_id"]
        s.case = s.ok("/v1/cases", case_body(s.person), "dpa.nguyen")["id"]
        yield s


def case_body(person: str, **fields: str) -> dict[str, Any]:
    charge = {"statute_code": "9A.56.050", "description": "theft 3", "severity": "misdemeanor"}
    return {
        "person_id": person,
        "case_number": f"26-1-{uuid.uuid4().hex[:8]}",
        "court": "KCDC",
        "jurisdiction": "King County",
        "incident_date": str(date.today()),
        "charges": [charge],
        **fields,
    }


@dataclass(frozen=True)
class Target:
    """One text field: the command that carries it and where a permitted reader sees it."""

    name: str
    send: Callable[[Site, str], tuple[str, dict[str, Any], str]]  # path, body, who
    shown: Callable[[Site, dict[str, Any], int], list[str]] | None  # the values read


def _referral(field: str) -> Callable[[Site, str], tuple[str, dict[str, Any], str]]:
    group, name = field.split(".")

    def send(site: Site, value: str) -> tuple[str, dict[str, Any], str]:
        body = referral_body()
        body[group][name] = value
        return "/v1/referrals", body, "pm.kim"

    return send


def _referral_shown(group: str, name: str) -> Callable[[Site, dict[str, Any], int], list[str]]:
    def shown(site: Site, answer: dict[str, Any], position: int) -> list[str]:
        return [site.read(f"/v1/referrals/{answer['id']}", "pm.kim", position)[group][name]]

    return shown


def _contact(site: Site, value: str) -> tuple[str, dict[str, Any], str]:
    body = {
        "kind": "office",
        "contacted_on": datetime.now(UTC).isoformat(),
        "minutes": 10,
        "notes": value,
        "place": value[:300],
    }
    return f"/v1/participants/{site.person}/contacts", body, "cm.ortiz"


def _contact_shown(site: Site, answer: dict[str, Any], position: int) -> list[str]:
    record = site.read(f"/v1/participants/{site.person}", "cm.ortiz", position)
    return [c["notes"] for c in record["contacts"]]


def _goal(site: Site, value: str) -> tuple[str, dict[str, Any], str]:
    return f"/v1/participants/{site.person}/goals", {"text": value, "domain": "housing"}, "cm.ortiz"


def _goal_shown(site: Site, answer: dict[str, Any], position: int) -> list[str]:
    record = site.read(f"/v1/participants/{site.person}", "cm.ortiz", position)
    return [g["text"] for g in record["goals"]]


def _case_field(name: str) -> Callable[[Site, str], tuple[str, dict[str, Any], str]]:
    def send(site: Site, value: str) -> tuple[str, dict[str, Any], str]:
        return "/v1/cases", case_body(site.person, **{name: value}), "dpa.nguyen"

    return send


def _case_shown(name: str) -> Callable[[Site, dict[str, Any], int], list[str]]:
    def shown(site: Site, answer: dict[str, Any], position: int) -> list[str]:
        view = site.read(f"/v1/liaison/cases/{site.person}", "dpa.nguyen", position)
        return [c[name] for c in view["cases"] if c["case_id"] == answer["id"]]

    return shown


def _recommendation(site: Site, value: str) -> tuple[str, dict[str, Any], str]:
    body = {"recommendation": value, "recommended_on": str(date.today())}
    return f"/v1/cases/{site.case}/recommendations", body, "dpa.nguyen"


def _recommendation_shown(site: Site, answer: dict[str, Any], position: int) -> list[str]:
    view = site.read(f"/v1/liaison/cases/{site.person}", "dpa.nguyen", position)
    return [c["recommendation"] for c in view["cases"] if c["case_id"] == site.case]


def _decline(site: Site, value: str) -> tuple[str, dict[str, Any], str]:
    referral = site.ok("/v1/referrals", referral_body(), "officer.reyes")
    return f"/v1/referrals/{referral['id']}/decline", {"reason": value}, "pm.kim"


def _decline_shown(site: Site, answer: dict[str, Any], position: int) -> list[str]:
    return [site.read(f"/v1/referrals/{answer['id']}", "pm.kim", position)["closed_reason"]]


def _consent(site: Site, value: str) -> tuple[str, dict[str, Any], str]:
    now = datetime.now(UTC)
    body = {
        "person_id": site.person,
        "disclosing_party": "REACH",
        "recipients": [{"kind": "organisation", "name": "Public Defender"}],
        "purpose": value,
        "information_kinds": ["legal_status"],
        "signature_method": "paper",
        "signed_at": (now - timedelta(minutes=5)).isoformat(),
        "expires_at": (now + timedelta(days=30)).isoformat(),
    }
    return "/v1/consents", body, "cm.ortiz"


TARGETS = [
    Target(
        "incident.description",
        _referral("incident.description"),
        _referral_shown("incident", "description"),
    ),
    Target("incident.place", _referral("incident.place"), None),
    Target("person.given_name", _referral("person.given_name"), None),
    Target("person.family_name", _referral("person.family_name"), None),
    Target("referral decline reason", _decline, _decline_shown),
    Target("contact notes", _contact, _contact_shown),
    Target("goal text", _goal, _goal_shown),
    Target("case court", _case_field("court"), _case_shown("court")),
    Target("case jurisdiction", _case_field("jurisdiction"), _case_shown("jurisdiction")),
    Target("recommendation", _recommendation, _recommendation_shown),
    Target("consent purpose", _consent, None),
]

SEEN: dict[str, int] = {"accepted": 0, "refused": 0, "too large": 0, "read back": 0}


@settings(
    max_examples=70,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(target=st.sampled_from(TARGETS), value=TEXT)
def test_every_text_is_refused_naming_its_field_or_read_back_intact(
    site: Site, target: Target, value: str
) -> None:
    path, body, who = target.send(site, value)
    response = site.post(path, body, who)
    sent = len(json.dumps(body).encode())
    if response.status_code == 413:
        assert sent > DEFAULT_MAX_BODY_BYTES, response.text
        SEEN["too large"] += 1
        return
    if response.status_code == 422:
        problem = response.json()
        assert problem["errors"] and all(e["field"].startswith("body.") for e in problem["errors"])
        SEEN["refused"] += 1
        if not usable(value):  # refused for the character, and says so
            assert any("U+" in e["message"] for e in problem["errors"]), problem
        return
    assert response.status_code in (200, 201), f"{target.name}: {response.text}"
    assert usable(value), f"{target.name} accepted {value!r}"
    SEEN["accepted"] += 1
    answer = response.json()
    site.position = max(site.position, answer["position"])
    if target.shown is not None:
        assert typed(value) in target.shown(site, answer, answer["position"]), target.name
        SEEN["read back"] += 1


def test_after_all_of_it_no_projection_is_stuck(
    site: Site, backend: Backend, container: Container
) -> None:
    """Runs after the property test (file order): every view reaches the last position."""
    marker = site.ok("/v1/referrals", referral_body(), "officer.reyes")
    for path in ("/v1/referrals", "/v1/queue", "/v1/caseloads", "/v1/liaison/cases"):
        who = "dpa.nguyen" if "liaison" in path else "pm.kim"
        site.read(path, who, marker["position"])
    ready = site.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    print(f"hostile text through the pipeline: {SEEN}")


# -- the defects found from outside, each with its request --------------------------------


def test_a_nul_in_an_incident_description_is_refused_and_nothing_is_recorded(
    site: Site, container: Container
) -> None:
    before = container.application.recorder.max_notification_id()
    body = referral_body()
    body["incident"]["description"] = "poss \u0000 nul"
    response = site.post("/v1/referrals", body, "officer.reyes")
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "body.incident.description"
    assert "NUL" in error["message"] and "U+0000" in error["message"]
    assert container.application.recorder.max_notification_id() == before


def test_a_community_partner_cannot_use_the_arrest_diversion_door(site: Site) -> None:
    body = referral_body(pathway="arrest_diversion")
    body["referrer"] = {
        "principal": "cp.rivera",
        "organisation": "Downtown Emergency Service Center",
    }
    refused = site.post("/v1/referrals", body, "cp.rivera")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "PathwayNotOpenError"
    assert "community" in refused.json()["detail"]
    body["pathway"] = "community"
    assert site.post("/v1/referrals", body, "cp.rivera").status_code == 201
    officer = referral_body(pathway="community")
    assert site.post("/v1/referrals", officer, "officer.reyes").status_code == 409


def test_a_post_without_an_idempotency_key_is_refused_naming_the_header(
    backend: Backend, people: dict[str, dict[str, str]], container: Container
) -> None:
    before = container.application.recorder.max_notification_id()
    with httpx.Client(base_url=backend.base_url, timeout=30) as bare:  # adds no key
        response = bare.post("/v1/referrals", json=referral_body(), headers=people["officer.reyes"])
        schema = bare.get("/openapi.json").json()
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "header.Idempotency-Key"
    assert container.application.recorder.max_notification_id() == before
    # Declared, and required, on every POST that records something.
    undeclared = []
    for path, operations in schema["paths"].items():
        post = operations.get("post")
        if post is None or path == "/v1/disclosure-checks":  # a question: records nothing
            continue
        headers = {
            p["name"].lower(): p.get("required", False)
            for p in post.get("parameters", [])
            if p["in"] == "header"
        }
        if headers.get("idempotency-key") is not True:
            undeclared.append(path)
    assert undeclared == []


def test_a_retried_token_answer_does_not_show_the_token_again(site: Site, backend: Backend) -> None:
    """The token is shown once: a retry with the same key is told so, and no copy of it
    is kept in the idempotency store."""
    name = f"officer.t{uuid.uuid4().hex[:8]}"
    body = {"name": name, "role": "officer", "organisation": "Seattle PD"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    admin = {**site.people["admin.pcg"], **key}
    first = site.client.post("/v1/principals", json=body, headers=admin)
    assert first.status_code == 201, first.text
    token = first.json()["token"]
    again = site.client.post("/v1/principals", json=body, headers=admin)
    assert again.status_code == 409, again.text
    assert token not in again.text
    with psycopg.connect(backend.settings.dsn) as conn:
        kept = conn.execute(
            "SELECT count(*) FROM idempotency_keys WHERE convert_from(body, 'UTF8') LIKE %s",
            (f"%{token}%",),
        ).fetchone()
    assert kept is not None and kept[0] == 0
