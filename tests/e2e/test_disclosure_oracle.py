"""A disclosure oracle: what each role is shown, generated from the access matrix
(`services.access.MATRIX`) and the running API's own OpenAPI document, so a new endpoint
or filter is covered without a test of its own.

- Filters (every GET route of the matrix that answers a page, every role it allows,
  every query parameter but paging and waiting): each enum value the OpenAPI document
  lists, and for a free-text filter every value seen in the unfiltered answers plus one
  that is absent. `route?param=value` must answer exactly the rows of the caller's own
  whole answer whose field of that name (or the field the parameter documents) shows
  that value: nothing decided by a field the caller is not shown. A parameter naming no
  field the caller is shown must answer every row or 422. A value naming nothing the
  caller may see answers exactly as one naming nothing at all.
- Single records (every scoped GET route with a path parameter): a record the caller may
  not see answers 404 exactly as a nonexistent id; one the caller's list shows answers
  200 with the same content, and nothing else answers 200.
- Consent-gated reads (the routes scoped to `access.CONSENTED`): exactly what the API's
  own consent decision (`POST /v1/disclosure-checks`) allows, per person and kind of
  information, and a progress summary only for the one it was shared with.
- Shared records (progress summaries, contact notes, case numbers): across every GET
  route and every role, only their recipients and the program's own staff read them.
- Every refused consent-gated read is recorded as `withheld` on lead.audit.v1.

Whole answers are read page by page (`limit` = the maximum the document allows, and
again two rows a page, which must answer the same), at the store position of the site's
last write (`min_position`). Left out: the live subscriptions (a text/event-stream never
ends; tests/e2e/test_subscriptions.py has them).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from events.base import Role
from events.topics import AUDIT
from services import access
from tests.e2e.conftest import Backend
from tests.http import api_client
from tests.kafka_reader import read_all
from tests.principals import CAST
from tests.processes import wait_until

pytestmark = pytest.mark.e2e

CONTROL = frozenset({"cursor", "limit", "min_position"})
"""Query parameters that page or wait; every other one is a filter."""
STAFF = frozenset({Role.CASE_MANAGER, Role.PROJECT_MANAGER})
"""The program's own staff."""
MISSING = object()
WITHHELD = "org.lead.disclosure.withheld.v1"


@dataclass(frozen=True)
class Nested:
    """A filter that keeps the rows of a list inside each row (dropping rows left without
    any): `list_field[*].field == values[value]`."""

    list_field: str
    field: str
    values: dict[str, Any]


DOCUMENTED: dict[tuple[str, str], Nested] = {
    # "Only cases still open (no disposition yet), or only closed ones": each case's `closed`.
    ("/v1/liaison/cases", "case_status"): Nested(
        "cases", "closed", {"open": False, "closed": True}
    ),
}
"""Filters whose parameter documents a field of another name. Every other filter is
judged on the field of its own name, wherever the caller's rows show it."""

ENTRY_KINDS = {"program": "program_status", "progress_summaries": "progress_summary"}
"""What a consent-gated case view entry holds beyond legal status, by kind of information."""


@dataclass(frozen=True)
class Who:
    name: str
    role: Role
    organisation: str


WHO = {name: Who(name, role, org) for name, (role, org) in CAST.items()}


@dataclass(frozen=True)
class Secret:
    """A text only some may read: a contact note, a progress summary, a case number."""

    text: str
    kind: str
    person: str
    recipient: tuple[str, str] | None = None  # a summary's (organisation, role)


@dataclass
class Site:
    position: int
    referrals: dict[str, str]  # label -> referral id
    persons: dict[str, str]  # label -> person id
    case_manager: dict[str, str]  # person id -> case manager
    with_cases: set[str]  # person ids with a case recorded
    in_liaison_view: set[str]  # person ids with a case or an enrolment: a case view exists
    secrets: list[Secret]

    @property
    def own(self) -> set[str]:
        """Every id and name this site made."""
        return {*self.referrals.values(), *self.persons.values(), *self.case_manager.values()}


# -- the site, built through the API ---------------------------------------------------------


def referral_body(pathway: str, who: str, days_ago: int = 0, **facts: Any) -> dict[str, Any]:
    return {
        "pathway": pathway,
        "referrer": {"principal": who, "organisation": WHO[who].organisation},
        "incident": {
            "offense_code": "69.50.4013",
            "description": "possession",
            "nibrs_code": "35A",
            "place": "2nd & Bell",
        },
        "person": {"given_name": "Oracle", "family_name": "Example", "birth_date": "1984-02-03"},
        "facts": facts,
        "occurred_at": (datetime.now(UTC) - timedelta(days=days_ago, minutes=5)).isoformat(),
    }


def social_contact(area: str) -> dict[str, Any]:
    return {
        "program_area": area,
        "prior_contact_verified_by": "reliable_report",
        "prior_contact_on": str(date.today() - timedelta(days=30)),
    }


@pytest.fixture(scope="module")
def site(backend: Backend, people: dict[str, dict[str, str]]) -> Iterator[Site]:
    """Referrals by the officer and the community partner in every status reachable,
    participants of two case managers, consents for the liaison prosecutor (by role and by
    organisation), the public defender and the police, one revoked; summaries shared with
    the prosecutor (and another prosecutor's office) and with the defender; cases open and
    closed; contact notes."""
    now = datetime.now(UTC)
    today = str(date.today())
    tag = uuid.uuid4().hex[:8]
    positions: list[int] = []
    client = api_client(backend.base_url, timeout=30)

    def post(path: str, body: dict[str, Any], who: str) -> Any:
        response = client.post(path, json=body, headers=people[who])
        assert response.status_code in (200, 201), f"{path} as {who}: {response.text}"
        answer = response.json()
        positions.append(answer["position"])
        return answer

    referrals: dict[str, str] = {}
    persons: dict[str, str] = {}
    case_manager: dict[str, str] = {}
    with_cases: set[str] = set()
    enrolled: set[str] = set()
    secrets: list[Secret] = []

    def refer(label: str, who: str, pathway: str, days_ago: int = 0, **facts: Any) -> str:
        made = post("/v1/referrals", referral_body(pathway, who, days_ago, **facts), who)
        referrals[label], persons[label] = made["id"], made["person_id"]
        return str(made["id"])

    def consent(label: str, recipients: list[tuple[str, str]], kinds: list[str]) -> str:
        made = post(
            "/v1/consents",
            {
                "person_id": persons[label],
                "disclosing_party": "REACH",
                "recipients": [{"kind": k, "name": n} for k, n in recipients],
                "purpose": "coordinate",
                "information_kinds": kinds,
                "signature_method": "e_signature",
                "signed_at": (now - timedelta(hours=1)).isoformat(),
                "expires_at": (now + timedelta(days=365)).isoformat(),
            },
            "cm.ortiz",
        )
        return str(made["id"])

    def enrol(label: str, cm: str, consent_id: str) -> str:
        post(
            f"/v1/referrals/{referrals[label]}/intake",
            {"completed_on": today, "case_manager": cm, "consent_id": consent_id},
            cm,
        )
        person = persons[label]
        case_manager[person] = cm
        enrolled.add(person)
        return person

    def case(label: str, closed: bool = False) -> None:
        number = f"ORACLE-{tag}-{label}-{len(secrets)}-{'closed' if closed else 'open'}"
        made = post(
            "/v1/cases",
            {
                "person_id": persons[label],
                "case_number": number,
                "court": "KCDC",
                "jurisdiction": "King County",
                "incident_date": today,
                "filing_date": today,
                "charges": [
                    {
                        "statute_code": "9A.56.050",
                        "description": "theft 3",
                        "severity": "misdemeanor",
                    }
                ],
            },
            "dpa.nguyen",
        )
        if closed:  # a disposition closes the case
            body = {"disposition": "dismissed", "disposed_on": today}
            post(f"/v1/cases/{made['id']}/disposition", body, "dpa.nguyen")
        with_cases.add(persons[label])
        secrets.append(Secret(number, "case number", persons[label]))

    def summary(label: str, organisation: str, role: str) -> None:
        text = f"summary-{tag}-{label}-{role}-{len(secrets)}: engaged weekly"
        person = persons[label]
        body = {"recipient_organisation": organisation, "recipient_role": role, "summary": text}
        post(f"/v1/participants/{person}/progress-summaries", body, case_manager[person])
        secrets.append(Secret(text, "progress summary", person, (organisation, role)))

    def note(label: str) -> None:
        text = f"note-{tag}-{label}: slept outside, using daily"
        person = persons[label]
        body = {"kind": "office", "contacted_on": now.isoformat(), "minutes": 15, "notes": text}
        post(f"/v1/participants/{person}/contacts", body, case_manager[person])
        secrets.append(Secret(text, "contact note", person))

    def status(label: str, value: str) -> None:
        person = persons[label]
        post(f"/v1/participants/{person}/status", {"status": value}, case_manager[person])

    lp_org, pd_org = WHO["dpa.nguyen"].organisation, WHO["pd.ali"].organisation
    police = WHO["officer.reyes"].organisation
    every_kind = ["legal_status", "program_status", "progress_summary"]

    # The officer's referrals.
    approve = {"approved", "enrolled_named", "enrolled_unnamed", "lapsed", "scheduled"}
    refer("approved", "officer.reyes", "arrest_diversion")
    refer("enrolled_named", "officer.reyes", "arrest_diversion")
    refer("enrolled_unnamed", "officer.reyes", "arrest_diversion")
    refer("lapsed", "officer.reyes", "arrest_diversion", days_ago=20)
    refer("scheduled", "officer.reyes", "arrest_diversion")
    refer("withdrawn_unnamed", "officer.reyes", "arrest_diversion")
    refer("withdrawn_named", "officer.reyes", "arrest_diversion")
    refer("eligible", "officer.reyes", "social_contact", **social_contact("Belltown"))
    refer("declined", "officer.reyes", "social_contact", **social_contact("Belltown"))
    refer("excluded", "officer.reyes", "social_contact", **social_contact("Ballard"))
    # The community partner's.
    approve |= {"cp_enrolled_both", "cp_withdrawn", "cp_revoked", "cp_exited_org"}
    refer("cp_eligible", "cp.rivera", "community")
    refer("cp_enrolled_both", "cp.rivera", "community")
    refer("cp_withdrawn", "cp.rivera", "community")
    refer("cp_revoked", "cp.rivera", "community")
    refer("cp_exited_org", "cp.rivera", "community")
    for label in sorted(approve):
        post(f"/v1/referrals/{referrals[label]}/approve", {}, "pm.kim")

    post(f"/v1/referrals/{referrals['lapsed']}/lapse", {}, "pm.kim")
    post(
        f"/v1/referrals/{referrals['scheduled']}/intake-schedule",
        {"scheduled_for": (now + timedelta(days=2)).isoformat(), "case_manager": "cm.ortiz"},
        "cm.ortiz",
    )
    post(f"/v1/referrals/{referrals['declined']}/decline", {"reason": "outside"}, "pm.kim")
    consent("withdrawn_named", [("organisation", police)], ["program_status"])
    for label in ("withdrawn_unnamed", "withdrawn_named", "cp_withdrawn"):
        post(f"/v1/referrals/{referrals[label]}/withdraw", {"kind": "withdrew"}, "pm.kim")

    # Enrolled, the police named for program status, the prosecutor (by role) for all.
    consent("enrolled_named", [("organisation", police)], ["program_status"])
    enrol(
        "enrolled_named",
        "cm.ortiz",
        consent("enrolled_named", [("role", "liaison_prosecutor")], every_kind),
    )
    summary("enrolled_named", lp_org, "liaison_prosecutor")
    summary("enrolled_named", "King County Prosecuting Attorney's Office", "liaison_prosecutor")
    note("enrolled_named")
    case("enrolled_named")

    # Enrolled, only the defender named (legal status and summaries, not program status).
    enrol(
        "enrolled_unnamed",
        "cm.bauer",
        consent(
            "enrolled_unnamed", [("role", "public_defender")], ["legal_status", "progress_summary"]
        ),
    )
    status("enrolled_unnamed", "inactive")
    summary("enrolled_unnamed", pd_org, "public_defender")
    note("enrolled_unnamed")
    case("enrolled_unnamed", closed=True)

    # Enrolled, the prosecutor and the defender both named; in the wind; cases open and closed.
    both = consent(
        "cp_enrolled_both",
        [("role", "liaison_prosecutor"), ("role", "public_defender")],
        every_kind,
    )
    enrol("cp_enrolled_both", "cm.ortiz", both)
    status("cp_enrolled_both", "in_the_wind")
    summary("cp_enrolled_both", lp_org, "liaison_prosecutor")
    summary("cp_enrolled_both", pd_org, "public_defender")
    case("cp_enrolled_both")
    case("cp_enrolled_both", closed=True)

    # Enrolled, the prosecutor named, then the consent revoked.
    revoked = consent("cp_revoked", [("role", "liaison_prosecutor")], every_kind)
    enrol("cp_revoked", "cm.bauer", revoked)
    summary("cp_revoked", lp_org, "liaison_prosecutor")
    case("cp_revoked")
    status("cp_revoked", "inactive")
    post(
        f"/v1/consents/{revoked}/revoke",
        {"effective_at": datetime.now(UTC).isoformat()},
        "cm.bauer",
    )

    # Enrolled, the prosecutor's organisation named (no summaries); exited; case closed.
    org = consent("cp_exited_org", [("organisation", lp_org)], ["legal_status", "program_status"])
    enrol("cp_exited_org", "cm.bauer", org)
    case("cp_exited_org", closed=True)
    person = persons["cp_exited_org"]
    post(
        f"/v1/participants/{person}/exit", {"exited_on": today, "reason": "moved_away"}, "cm.bauer"
    )

    # A case before any enrolment, and no consent at all.
    case("approved")

    client.close()
    yield Site(
        position=max(positions),
        referrals=referrals,
        persons=persons,
        case_manager=case_manager,
        with_cases=with_cases,
        in_liaison_view=with_cases | enrolled,
        secrets=secrets,
    )


# -- reading the running API as its document describes it --------------------------------------


@dataclass
class Answer:
    status: int
    body: Any
    text: str

    def problem(self) -> tuple[int, Any]:
        """A refusal as the caller sees it, but for the path it was asked at."""
        body = {k: v for k, v in self.body.items() if k != "instance"}
        return self.status, body

    @property
    def paged(self) -> bool:
        return (
            self.status == 200
            and isinstance(self.body, dict)
            and {
                "items",
                "next_cursor",
            }
            <= set(self.body)
        )


@dataclass
class Api:
    client: httpx.Client
    people: dict[str, dict[str, str]]
    spec: dict[str, Any]
    position: int
    requests: int = 0
    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (who, url, text)

    def operation(self, path: str) -> dict[str, Any]:
        return dict(self.spec["paths"][path]["get"])

    def parameters(self, path: str, where: str = "query") -> list[dict[str, Any]]:
        return [p for p in self.operation(path).get("parameters", []) if p["in"] == where]

    def streams(self, path: str) -> bool:
        responses = self.operation(path).get("responses", {})
        return any("text/event-stream" in r.get("content", {}) for r in responses.values())

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.spec["components"]["schemas"][name]
        return schema

    def schemas(self, schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A parameter's schema and every alternative in it (anyOf, oneOf, allOf)."""
        schema = self.resolve(schema)
        yield schema
        for key in ("anyOf", "oneOf", "allOf"):
            for alternative in schema.get(key, []):
                yield from self.schemas(alternative)

    def enum(self, parameter: dict[str, Any]) -> list[str] | None:
        values = [v for s in self.schemas(parameter["schema"]) for v in s.get("enum", [])]
        return [str(v) for v in values] if values else None

    def kind(self, parameter: dict[str, Any]) -> str:
        """string, uuid, date-time, integer... the first non-null alternative's."""
        for s in self.schemas(parameter["schema"]):
            if s.get("type") not in (None, "null"):
                return str(s.get("format") or s["type"])
        return "string"

    def query(self, path: str, **given: str) -> dict[str, str]:
        """The parameters every request to this route takes: the position to wait for,
        the largest page, and a value for each required parameter."""
        params: dict[str, str] = {}
        for p in self.parameters(path):
            if p["name"] == "min_position":
                params["min_position"] = str(self.position)
            elif p["name"] == "limit":
                maximum = self.resolve(p["schema"]).get("maximum")
                params["limit"] = str(maximum or 100)
            elif p.get("required") and p["name"] not in given:
                params[p["name"]] = placeholder(self.kind(p))
        return {**params, **given}

    def get(self, who: str, url: str, params: dict[str, str]) -> Answer:
        deadline = time.monotonic() + 60
        while True:
            response = self.client.get(url, params=params, headers=self.people[who])
            self.requests += 1
            if response.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the view has not caught up yet
        assert response.status_code < 500, f"GET {url} {params} as {who}: {response.text}"
        try:
            body = response.json()
        except ValueError:
            body = None
        self.texts.append((who, str(response.request.url), response.text))
        return Answer(response.status_code, body, response.text)

    def whole(self, who: str, url: str, params: dict[str, str]) -> Answer:
        """Every page, followed by next_cursor, as one answer."""
        first = self.get(who, url, params)
        if not first.paged:
            return first
        items = list(first.body["items"])
        cursor = first.body["next_cursor"]
        while cursor:
            following = self.get(who, url, {**params, "cursor": cursor})
            assert following.paged, f"GET {url} page after {cursor} as {who}: {following.text}"
            items += following.body["items"]
            cursor = following.body["next_cursor"]
        body = {**first.body, "items": items, "next_cursor": None}
        return Answer(200, body, json.dumps(body))


def placeholder(kind: str) -> str:
    return {
        "date-time": "2000-01-01T00:00:00Z",
        "date": "2000-01-01",
        "uuid": str(uuid.uuid4()),
    }.get(kind, "x")


def absent(kind: str) -> str:
    """A value no record has."""
    if kind == "uuid":
        return str(uuid.uuid4())
    if kind == "integer":
        return "-987654321"
    return f"nobody-{uuid.uuid4().hex[:12]}"


def shown(value: Any) -> str:
    """A JSON value as a query parameter would say it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def find_path(rows: list[dict[str, Any]], name: str) -> tuple[str, ...] | None:
    """Where rows show a field of this name: at the top, or in a nested object (breadth first)."""
    level: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), r) for r in rows]
    for _ in range(4):
        for prefix, obj in level:
            if name in obj:
                return (*prefix, name)
        level = [
            ((*prefix, k), v)
            for prefix, obj in level
            for k, v in obj.items()
            if isinstance(v, dict)
        ]
    return None


def value_at(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = row
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return MISSING
        value = value[key]
    return value


def brief(rows: list[dict[str, Any]], path: str, name: str, where: tuple[str, ...] | None) -> str:
    """Rows as `id field=value`, to say which rows an answer held."""

    def one(row: dict[str, Any]) -> str:
        ident = next((str(v) for k, v in row.items() if k.endswith("_id")), "")
        if nested := DOCUMENTED.get((path, name)):
            inner = [x.get(nested.field) for x in row.get(nested.list_field) or []]
            return f"{ident[:8]} {nested.list_field}.{nested.field}={inner}"
        value = value_at(row, where) if where else MISSING
        return f"{ident[:8]} {'.'.join(where or (name,))}={'-' if value is MISSING else value}"

    return "[" + ", ".join(one(r) for r in rows) + "]"


def allowed_principals(rule: access.Rule) -> list[str]:
    return [name for name, who in WHO.items() if rule.allows(who.role)]


READ_LOGS = frozenset({"/v1/participants/{person_id}/disclosures"})
"""Lists of the reads made themselves: every read the oracle makes adds to them, so no
two reads agree and "a filter answers a subset of the whole" cannot be asked of them.
Who may read them is the access matrix's (tests/e2e/test_openapi_fuzz.py); what they
hold is checked one for one against lead.audit.v1 (tests/e2e/test_prosecution_feed.py)."""


def get_routes(api: Api) -> list[tuple[str, access.Rule]]:
    """Every GET route of the matrix that needs a token and answers JSON (but `READ_LOGS`)."""
    routes = []
    for (method, path), rule in sorted(access.MATRIX.items()):
        if method != "GET" or rule.public or path in READ_LOGS:
            continue
        assert path in api.spec["paths"], f"{path} is in the matrix but not in /openapi.json"
        if not api.streams(path):
            routes.append((path, rule))
    return routes


def path_parameters(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


@pytest.fixture(scope="module")
def api(backend: Backend, people: dict[str, dict[str, str]], site: Site) -> Iterator[Api]:
    with api_client(backend.base_url, timeout=60) as client:
        spec = client.get("/openapi.json").json()
        yield Api(client, people, spec, site.position)


@dataclass
class Catalogue:
    """The unfiltered answer of every list route to every principal it allows, and every
    value each field showed in any of them (to fill path parameters with)."""

    answers: dict[tuple[str, str, str], Answer]  # (route, url, who) -> whole answer
    values: dict[str, set[str]]

    def of(self, route: str) -> list[tuple[str, str, Answer]]:
        return [(url, who, a) for (r, url, who), a in self.answers.items() if r == route]


def collect(values: dict[str, set[str]], item: Any) -> None:
    if isinstance(item, dict):
        for k, v in item.items():
            if isinstance(v, str | int) and not isinstance(v, bool):
                values.setdefault(k, set()).add(str(v))
            collect(values, v)
    elif isinstance(item, list):
        for v in item:
            collect(values, v)


MANY = 40
"""Past this many values seen for a path parameter (a store other tests filled too), the
site's own and the first few others are tried."""


def candidates(values: dict[str, set[str]], name: str, own: set[str]) -> list[str]:
    seen = sorted(values.get(name, set()))
    if len(seen) <= MANY:
        return seen
    return sorted({v for v in seen if v in own} | set(seen[:10]))


def urls(path: str, values: dict[str, set[str]], api: Api, own: set[str]) -> list[str]:
    """The route with its path parameters filled: each value seen, and one absent."""
    concrete = [path]
    kinds = {p["name"]: api.kind(p) for p in api.parameters(path, "path")}
    for name in path_parameters(path):
        options = [*candidates(values, name, own), absent(kinds.get(name, "string"))]
        concrete = [u.replace(f"{{{name}}}", o) for u in concrete for o in options]
    return concrete


@pytest.fixture(scope="module")
def catalogue(api: Api, site: Site) -> Catalogue:
    answers: dict[tuple[str, str, str], Answer] = {}
    values: dict[str, set[str]] = {}
    routes = sorted(get_routes(api), key=lambda r: (len(path_parameters(r[0])), r[0]))
    for path, rule in routes:
        for url in urls(path, values, api, site.own):
            for who in allowed_principals(rule):
                answer = api.whole(who, url, api.query(path))
                if answer.paged:
                    answers[(path, url, who)] = answer
                    collect(values, answer.body["items"])
    return Catalogue(answers, values)


def consent_decision(api: Api, person: str, who: str, kind: str) -> bool:
    """The API's own decision: may this principal receive this kind about this person now?"""
    response = api.client.post(
        "/v1/disclosure-checks",
        json={
            "person_id": person,
            "recipient_organisation": WHO[who].organisation,
            "recipient_role": WHO[who].role.value,
            "kind": kind,
        },
        headers=api.people["pm.kim"],
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["allowed"])


# -- the oracle --------------------------------------------------------------------------------


def expected_rows(
    path: str, name: str, value: str, rows: list[dict[str, Any]], where: tuple[str, ...] | None
) -> list[dict[str, Any]] | None:
    """The rows the caller could pick out of its own answer, or None when the parameter
    names no field the caller is shown (then: every row, or 422)."""
    nested = DOCUMENTED.get((path, name))
    if nested is not None:
        if not any(nested.list_field in r for r in rows) and rows:
            return None
        wanted = nested.values[value]
        picked = []
        for row in rows:
            kept = [x for x in row.get(nested.list_field) or [] if x.get(nested.field) == wanted]
            if kept:
                picked.append({**row, nested.list_field: kept})
        return picked
    if where is None or (rows and not any(where[0] in r for r in rows)):
        return None
    return [r for r in rows if (v := value_at(r, where)) is not MISSING and shown(v) == value]


SMALL_PAGE = "2"


def paged_alike(api: Api, who: str, url: str, path: str, whole: Answer, **given: str) -> list[str]:
    """The same answer read two rows a page, following next_cursor: the cursor neither
    repeats nor skips a row, nor filters differently from one page to the next."""
    if not whole.paged or "limit" not in {p["name"] for p in api.parameters(path)}:
        return []
    small = api.whole(who, url, {**api.query(path, **given), "limit": SMALL_PAGE})
    if small.paged and small.body["items"] == whole.body["items"]:
        return []
    asked = f"GET {url}?{'&'.join(f'{k}={v}' for k, v in given.items())} as {who}"
    return [f"{asked}: {SMALL_PAGE} a page answers {small.text}, the whole page {whole.text}"]


def test_every_filter_answers_only_what_the_caller_could_pick_out_of_what_it_is_shown(
    api: Api, catalogue: Catalogue, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong: list[str] = []
    compared = 0
    routes: set[str] = set()
    filters: set[tuple[str, str]] = set()
    per_route: dict[str, Counter[str]] = {}  # route -> filter -> filtered answers compared
    for path, _rule in get_routes(api):
        answers = catalogue.of(path)
        if not answers:
            continue
        routes.add(path)
        per_route[path] = Counter()
        every_row = [r for _, _, a in answers for r in a.body["items"]]
        for url, who, whole in answers:
            wrong += paged_alike(api, who, url, path, whole)
        for p in api.parameters(path):
            name = p["name"]
            if name in CONTROL:
                continue
            filters.add((path, name))
            nested = DOCUMENTED.get((path, name))
            enum = api.enum(p)
            where = find_path(every_row, name)
            if nested is not None and enum is not None:
                assert set(enum) == set(nested.values), f"{path}?{name}: {enum} vs {nested}"
            if enum is not None:
                candidates = enum
            else:
                seen = set()
                if nested is not None:
                    seen = {str(k) for k in nested.values}
                elif where is not None:
                    seen = {shown(v) for r in every_row if (v := value_at(r, where)) is not MISSING}
                candidates = [*sorted(seen), absent(api.kind(p))]
            for url, who, whole in answers:
                rows = whole.body["items"]
                nothing: dict[str, Any] = {}  # answers to values naming nothing it is shown
                for value in candidates:
                    compared += 1
                    per_route[path][name] += 1
                    got = api.whole(who, url, api.query(path, **{name: value}))
                    expected = expected_rows(path, name, value, rows, where)
                    asked = f"GET {url}?{name}={value} as {who}"
                    wrong += paged_alike(api, who, url, path, got, **{name: value})
                    if expected is None:  # names no field the caller is shown
                        if got.status != 422 and not (got.paged and got.body["items"] == rows):
                            wrong.append(f"{asked}: a subset decided by a hidden field: {got.text}")
                        continue
                    if got.status == 404 and not expected:
                        pass  # a refusal telling nothing: compared with the others below
                    elif not got.paged:
                        wrong.append(f"{asked}: {got.status} {got.text}")
                        continue
                    elif got.body["items"] != expected:
                        wrong.append(
                            f"{asked}: answered {brief(got.body['items'], path, name, where)}; "
                            f"the caller's own answer ({len(rows)} rows) picks out "
                            f"{brief(expected, path, name, where)}"
                        )
                        continue
                    if not expected:
                        outcome = (got.status, got.body["items"] if got.paged else got.problem())
                        nothing.setdefault(json.dumps(outcome, default=str), value)
                if len(nothing) > 1:
                    wrong.append(
                        f"GET {url}?{name}= as {who}: values naming nothing it is shown answer "
                        f"differently: {nothing}"
                    )
    pairs = {(path, who) for path, _, who in catalogue.answers}
    roles = {WHO[who].role.value for _, who in pairs}
    with capsys.disabled():
        print(
            f"\ndisclosure oracle, filters: {len(routes)} list routes read whole by "
            f"{len(pairs)} (route, principal) pairs of {len(roles)} roles; {len(filters)} "
            f"filters; {compared} filtered answers compared ({api.requests} requests so far)"
        )
        for path, counts in sorted(per_route.items()):
            readers = sorted({w for r, w in pairs if r == path})
            each = ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "no filter"
            print(f"  {path}: {len(readers)} principals ({', '.join(readers)}); {each}")
    assert compared > 0
    assert not wrong, "\n".join(wrong)


def test_the_site_holds_what_the_oracle_needs(catalogue: Catalogue, site: Site) -> None:
    """Without these rows the oracle above would have little to catch."""

    def seen(route: str, who: str, *path: str) -> set[str]:
        [(_, _, whole)] = [(u, w, a) for u, w, a in catalogue.of(route) if w == who]
        mine = [r for r in whole.body["items"] if site.own & {str(v) for v in r.values()}]
        return {shown(v) for r in mine if (v := value_at(r, path)) is not MISSING}

    program = {"eligible", "excluded", "approved", "declined", "intake_scheduled"}
    program |= {"enrolled", "lapsed", "withdrawn"}
    assert seen("/v1/referrals", "pm.kim", "status") == program
    assert seen("/v1/referrals", "officer.reyes", "status") >= {"enrolled", "withdrawn", "closed"}
    assert "closed" in seen("/v1/referrals", "cp.rivera", "status")
    assert seen("/v1/liaison/cases", "dpa.nguyen", "program", "status") == {
        "active",
        "in_the_wind",
        "exited",
    }
    assert seen("/v1/caseloads", "pm.kim", "case_manager") >= {"cm.ortiz", "cm.bauer"}


def test_a_record_out_of_scope_answers_as_one_that_does_not_exist(
    api: Api, catalogue: Catalogue, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scoped routes with a path parameter: 404 exactly as for a nonexistent id; 200 only
    for what the caller's list shows, with the same content."""
    wrong: list[str] = []
    checked = Counter[str]()
    for path, rule in get_routes(api):
        params = path_parameters(path)
        if not rule.scopes or not params:
            continue
        [name] = params
        parent = path.rsplit("/", 1)[0]
        kind = next((api.kind(p) for p in api.parameters(path, "path") if p["name"] == name), "")
        for who in allowed_principals(rule):
            nowhere = api.get(who, path.replace(f"{{{name}}}", absent(kind)), api.query(path))
            listed: dict[str, dict[str, Any]] | None = None
            parents = [a for (r, _, w), a in catalogue.answers.items() if r == parent and w == who]
            if parents:
                listed = {str(i.get(name)): i for i in parents[0].body["items"]}
            for value in candidates(catalogue.values, name, site.own):
                checked[path] += 1
                answer = api.get(who, path.replace(f"{{{name}}}", value), api.query(path))
                asked = f"GET {path.replace(f'{{{name}}}', value)} as {who}"
                if answer.status == 404:
                    if answer.problem() != nowhere.problem():
                        wrong.append(f"{asked}: {answer.text}; nonexistent: {nowhere.text}")
                    if listed is not None and value in listed:
                        wrong.append(f"{asked}: 404, but the caller's list shows it")
                    continue
                if answer.status != 200:
                    wrong.append(f"{asked}: {answer.status} {answer.text}")
                    continue
                if answer.paged or listed is None:
                    continue  # a list of its own, or no list to hold it against
                if value not in listed:
                    wrong.append(f"{asked}: 200, but the caller's list does not show it")
                elif answer.body != listed[value]:
                    wrong.append(f"{asked}: {answer.text} differs from the list's {listed[value]}")
    with capsys.disabled():
        print(
            "\ndisclosure oracle, single records: "
            + ", ".join(f"{path} {n} reads" for path, n in sorted(checked.items()))
        )
    assert checked
    assert not wrong, "\n".join(wrong)


def consented_routes(api: Api) -> list[tuple[str, access.Rule]]:
    return [(p, r) for p, r in get_routes(api) if access.CONSENTED in r.scopes.values()]


def test_consent_gated_reads_show_exactly_what_the_consent_in_force_allows(
    api: Api, catalogue: Catalogue, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong: list[str] = []
    checked = 0
    people = sorted(set(site.persons.values()))
    routes = consented_routes(api)
    assert routes, "the matrix has no consent-gated route"

    def judge(asked: str, who: str, entry: dict[str, Any], may: dict[str, bool]) -> None:
        if not may["legal_status"]:
            wrong.append(f"{asked}: shown without a consent covering legal status")
        for key, kind in ENTRY_KINDS.items():
            if entry.get(key) and not may[kind]:
                wrong.append(f"{asked}: {key} shown without a consent covering {kind}")
        me = (WHO[who].organisation, WHO[who].role.value)
        for s in entry.get("progress_summaries") or []:
            if (s["recipient_organisation"], s["recipient_role"]) != me:
                wrong.append(
                    f"{asked}: a summary shared with {s['recipient_organisation']}, "
                    f"{s['recipient_role']}: {s['summary']}"
                )
        if (
            may["program_status"]
            and entry.get("program") is None
            and entry["person_id"] in site.case_manager
        ):
            wrong.append(f"{asked}: program status withheld though the consent covers it")

    for path, rule in routes:
        scoped = [w for w in allowed_principals(rule) if WHO[w].role in rule.scopes]
        for who in scoped:
            decisions = {
                p: {
                    k: consent_decision(api, p, who, k)
                    for k in ("legal_status", *ENTRY_KINDS.values())
                }
                for p in people
            }
            if path_parameters(path):
                [name] = path_parameters(path)
                for person in people:
                    checked += 1
                    url = path.replace(f"{{{name}}}", person)
                    answer = api.get(who, url, api.query(path))
                    asked = f"GET {url} as {who}"
                    may = decisions[person]
                    if may["legal_status"] and person in site.in_liaison_view:
                        if answer.status != 200:
                            wrong.append(f"{asked}: {answer.status}, though a consent covers it")
                            continue
                        judge(asked, who, answer.body, may)
                    elif answer.status != 404:
                        wrong.append(f"{asked}: {answer.status} {answer.text}")
            else:
                [(_, _, whole)] = [
                    (u, w, a)
                    for (r, u, w), a in catalogue.answers.items()
                    if r == path and w == who
                ]
                shown_people = {e["person_id"] for e in whole.body["items"]}
                expected = {
                    p for p in people if decisions[p]["legal_status"] and p in site.with_cases
                }
                checked += len(people)
                if shown_people & set(people) != expected:
                    wrong.append(
                        f"GET {path} as {who}: shows {sorted(shown_people & set(people))}, "
                        f"consented {sorted(expected)}"
                    )
                for entry in whole.body["items"]:
                    if entry["person_id"] in decisions:
                        judge(f"GET {path} as {who}", who, entry, decisions[entry["person_id"]])
    with capsys.disabled():
        print(
            f"\ndisclosure oracle, consent-gated: {len(routes)} routes, {checked} "
            "(route, principal, person) reads judged against /v1/disclosure-checks"
        )
    assert not wrong, "\n".join(wrong)


def test_shared_records_reach_only_their_recipients_and_the_programs_staff(
    api: Api, catalogue: Catalogue, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every GET route, every role it allows, every record filled in: a contact note only
    for the participant's case manager and the project manager; a progress summary only
    for the one it was shared with (under a consent in force) and the program's staff; a
    case number only for those a consent covers for legal status and the program's staff
    and auditors."""
    start = len(api.texts)
    for path, rule in get_routes(api):
        for url in urls(path, catalogue.values, api, site.own):
            for who in allowed_principals(rule):
                api.whole(who, url, api.query(path))
    decisions: dict[tuple[str, str, str], bool] = {}

    def may(who: str, kind: str, person: str) -> bool:
        key = (who, kind, person)
        if key not in decisions:
            decisions[key] = consent_decision(api, person, who, kind)
        return decisions[key]

    def may_read(secret: Secret, who: str) -> bool:
        role = WHO[who].role
        if secret.kind == "contact note":
            return role is Role.PROJECT_MANAGER or site.case_manager.get(secret.person) == who
        if role in STAFF:
            return True
        if secret.kind == "progress summary":
            me = (WHO[who].organisation, role.value)
            return secret.recipient == me and may(who, "progress_summary", secret.person)
        return role is Role.AUDITOR or may(who, "legal_status", secret.person)

    leaks: list[str] = []
    read_by: dict[str, set[str]] = {s.text: set() for s in site.secrets}
    for who, url, text in api.texts:
        for secret in site.secrets:
            if secret.text in text:
                read_by[secret.text].add(who)
                if not may_read(secret, who):
                    leaks.append(f"{secret.kind} {secret.text!r} in GET {url} as {who}")
    with capsys.disabled():
        print(
            f"\ndisclosure oracle, shared records: {len(site.secrets)} records x "
            f"{len(api.texts) - start} answers crawled over {len(get_routes(api))} GET routes"
        )
        for secret in site.secrets:
            to = f" for {', '.join(secret.recipient)}" if secret.recipient else ""
            print(
                f"  {secret.kind} {secret.text[:48]!r}{to}: read by {sorted(read_by[secret.text])}"
            )
    assert not leaks, "\n".join(sorted(set(leaks)))
    for kind in ("contact note", "progress summary", "case number"):  # the crawl saw them
        assert any(read_by[s.text] for s in site.secrets if s.kind == kind), kind


def test_every_refused_consent_gated_read_is_recorded_as_withheld(
    api: Api, backend: Backend, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    started = datetime.now(UTC)
    refused: Counter[tuple[str, str, str]] = Counter()  # (person, principal, channel)
    for path, rule in consented_routes(api):
        if not path_parameters(path):
            continue
        [name] = path_parameters(path)
        for who in [w for w in allowed_principals(rule) if WHO[w].role in rule.scopes]:
            for person in sorted(site.in_liaison_view):
                answer = api.get(who, path.replace(f"{{{name}}}", person), api.query(path))
                if answer.status == 404:
                    refused[(person, who, f"api:{path}")] += 1
    assert refused, "no refused read to look for"

    def recorded() -> Counter[tuple[str, str, str]]:
        found: Counter[tuple[str, str, str]] = Counter()
        for r in read_all(backend.settings.bootstrap_servers, AUDIT):
            try:
                event = json.loads(r.value)
            except ValueError:
                continue
            if not isinstance(event, dict) or event.get("type") != WITHHELD:
                continue
            data = event["data"]
            if datetime.fromisoformat(data["decided_at"]) >= started:
                person = (r.key or b"").decode()
                found[(person, data.get("recipient_principal"), data["channel"])] += 1
        return found

    def unrecorded() -> dict[str, int]:
        found = recorded()
        return {" ".join(k): n - found[k] for k, n in refused.items() if found[k] < n}

    with contextlib.suppress(AssertionError):  # said below, read by read
        wait_until(lambda: not unrecorded(), 30, "a withheld record of every refused read")
    left = unrecorded()
    with capsys.disabled():
        print(
            f"\ndisclosure oracle, withheld: {sum(refused.values())} refused reads of "
            f"{len({k[0] for k in refused})} people, {len(left)} without a withheld record"
        )
    assert not left, "\n".join(
        f"{n} refused read(s) of {k} with no withheld record" for k, n in sorted(left.items())
    )


PERSON_LESS = {"/v1/caseloads/{case_manager}"}
"""Scoped reads about no one person: a refusal there has no person to record it under."""


def test_every_refused_read_of_someone_elses_record_is_recorded_as_withheld(
    api: Api, catalogue: Catalogue, backend: Backend, site: Site
) -> None:
    """A 404 for a record that exists (another caller's list shows it) is, for the
    auditors, a withheld disclosure: who asked, through which route."""
    started = datetime.now(UTC)
    refused: Counter[tuple[str, str]] = Counter()  # (principal, channel)
    for path, rule in get_routes(api):
        params = path_parameters(path)
        if not rule.scopes or not params or path in PERSON_LESS:
            continue
        if access.CONSENTED in rule.scopes.values():
            continue  # the test above, person by person
        [name] = params
        unscoped = [w for w in allowed_principals(rule) if WHO[w].role not in rule.scopes]
        values = candidates(catalogue.values, name, site.own)
        existing = [  # what a caller who sees all finds: a refusal of it withholds something
            v
            for v in values
            if api.get(unscoped[0], path.replace(f"{{{name}}}", v), api.query(path)).status == 200
        ]
        for who in [w for w in allowed_principals(rule) if WHO[w].role in rule.scopes]:
            for value in existing:
                answer = api.get(who, path.replace(f"{{{name}}}", value), api.query(path))
                if answer.status == 404:
                    refused[(who, f"api:{path}")] += 1
    assert refused, "no refused read to look for"

    def unrecorded() -> dict[str, int]:
        found: Counter[tuple[str, str]] = Counter()
        for r in read_all(backend.settings.bootstrap_servers, AUDIT):
            try:
                event = json.loads(r.value)
            except ValueError:
                continue
            if not isinstance(event, dict) or event.get("type") != WITHHELD:
                continue
            data = event["data"]
            if datetime.fromisoformat(data["decided_at"]) >= started:
                found[(data.get("recipient_principal"), data["channel"])] += 1
        return {" ".join(k): n - found[k] for k, n in refused.items() if found[k] < n}

    with contextlib.suppress(AssertionError):
        wait_until(lambda: not unrecorded(), 30, "a withheld record of every refused read")
    assert not unrecorded(), unrecorded()
