"""Property-based requests generated from the OpenAPI document, as every role.

Every operation is called with a token of each of the nine roles, and without one:

- a role the matrix (docs/access.md) allows gets every check schemathesis has
  (`case.call_and_validate` with no `checks=`: all of them are enabled by default):
  no server error, status codes, content types, response headers and bodies as
  documented, invalid input refused, valid input accepted, a missing header refused,
  authentication enforced (schemathesis probes without a token and with a bad one),
  plus ours: every 422 is a problem naming what is wrong;
- a role the matrix refuses gets exactly 403 for every well-formed request, and no
  token gets exactly 401. (A malformed request is refused for its form before the
  token is looked at: body limits, JSON syntax, the Idempotency-Key; that is covered
  by the allowed roles' negative cases.)

Valid requests follow what the API documents but a schema cannot say: a new
Idempotency-Key per request, no made-up cursor (only a next_cursor the API gave),
a min_position no later than a write's, `since` before `until`, officers and
community partners referring as themselves, dates between 1900 and today (the
commands refuse far-off dates as typos). About every other valid request addresses
a record this module made (a referral, its participant, a consent, a case, a
principal), so answers about real records are checked against their schemas too.

Left out, on purpose, each covered elsewhere:
- `POST /v1/policy` with valid terms as the administrator: an adopted policy would
  change how every later referral on this shared stack is screened (the scenario test
  test_site_scenario_api adopts one through the API). Invalid terms and every other
  role are called.
- the live subscriptions for the roles allowed to open one: a stream never ends
  (test_subscriptions). Refused roles and no token are called.
- schemathesis's stateful phase: the API declares no links, and its reads are
  eventually consistent views (a write's answer says which `min_position` to read
  at), so "created, then not found" would be a false alarm; the checks it alone runs
  (use_after_free, ensure_resource_availability, object_level_authorization) have
  nothing to work on.
Principal management is covered: names rotated or revoked are ones this module
registered or made up, never the cast's the other tests use.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import negated_parameters

from events.base import Role
from infra.settings import Settings
from services import access
from services.http.problems import PROBLEM_MEDIA_TYPE, VALIDATION
from tests.e2e.conftest import Backend, running_backend
from tests.http import api_client
from tests.principals import CAST, ONE_PER_ROLE

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 6
"""Fuzzed cases per operation (the examples and coverage phases add their own)."""

ANONYMOUS = "no token"


# -- dates the commands accept: 1900 to today (birth dates and "occurred" times may not
# be in the future; other dates may be up to ten years ahead) ------------------------------
EARLIEST = date(1900, 1, 1)
_days = st.integers(0, (date.today() - timedelta(days=1) - EARLIEST).days)
_offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30))]
)
schemathesis.openapi.format("date", _days.map(lambda d: (EARLIEST + timedelta(days=d)).isoformat()))
schemathesis.openapi.format(
    "date-time",
    st.builds(
        lambda d, s, tz: (
            datetime.combine(EARLIEST + timedelta(days=d), time(), tz)
            .replace(hour=s // 3600, minute=s // 60 % 60, second=s % 60)
            .isoformat()
        ),
        _days,
        st.integers(0, 86_399),
        _offsets,
    ),
)


@pytest.fixture(scope="module")
def backend(settings: Settings) -> Iterator[Backend]:
    """The backend with the failed-authentication throttle raised: every call without a
    token, and each of schemathesis's probes with none or a bad one, is a failed
    authentication from this one address (10 a minute would refuse the rest, 429)."""
    yield from running_backend(settings, LEAD_AUTH_FAILURE_LIMIT="1000000")


@pytest.fixture(scope="module")
def api_schema(backend: Backend) -> Any:
    return schemathesis.openapi.from_url(f"{backend.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.check
def rejections_name_the_field(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 422 is problem+json saying what is wrong; a validation problem names each field."""
    if response.status_code != 422:
        return None
    found = {k.lower(): v for k, v in response.headers.items()}.get("content-type", "")
    content_type = found[0] if isinstance(found, list) and found else str(found)
    assert content_type.startswith(PROBLEM_MEDIA_TYPE), response.headers
    body = response.json()
    assert body.get("detail"), body
    if body.get("type") == VALIDATION:
        errors = body.get("errors") or []
        assert errors and all(e.get("field") for e in errors), body
    return None


# -- records to address ------------------------------------------------------------------
class Site:
    """Ids of records this module made, by the path parameter that names them."""

    def __init__(self, backend: Backend, people: dict[str, dict[str, str]]) -> None:
        now = datetime.now(UTC)
        today = date.today()
        officer, pm, cm, dpa, admin = (
            people[n] for n in ("officer.reyes", "pm.kim", "cm.ortiz", "dpa.nguyen", "admin.pcg")
        )
        with api_client(backend.base_url, timeout=30) as client:

            def post(path: str, body: dict[str, Any], who: dict[str, str]) -> dict[str, Any]:
                response = client.post(path, json=body, headers=who)
                assert response.status_code in (200, 201), f"{path}: {response.text}"
                answer: dict[str, Any] = response.json()
                return answer

            referral = {
                "pathway": "arrest_diversion",
                "referrer": {"principal": "officer.reyes", "organisation": "Seattle PD"},
                "incident": {
                    "offense_code": "69.50.4013",
                    "description": "possession",
                    "nibrs_code": "35A",
                },
                "person": {"given_name": "Fuzz", "family_name": "Example"},
                "occurred_at": (now - timedelta(days=2)).isoformat(),
            }
            enrolled = post("/v1/referrals", referral, officer)
            waiting = post("/v1/referrals", referral, officer)
            person = enrolled["person_id"]
            post(f"/v1/referrals/{enrolled['id']}/approve", {}, pm)
            consent = post(
                "/v1/consents",
                {
                    "person_id": person,
                    "disclosing_party": "REACH",
                    "recipients": [
                        {"kind": "role", "name": "liaison_prosecutor"},
                        {"kind": "role", "name": "public_defender"},
                        {"kind": "role", "name": "officer"},
                    ],
                    "purpose": "coordinate cases",
                    "information_kinds": ["legal_status", "program_status", "progress_summary"],
                    "signature_method": "e_signature",
                    "signed_at": (now - timedelta(hours=1)).isoformat(),
                    "expires_at": (now + timedelta(days=365)).isoformat(),
                },
                cm,
            )
            post(
                f"/v1/referrals/{enrolled['id']}/intake",
                {
                    "completed_on": str(today),
                    "case_manager": "cm.ortiz",
                    "consent_id": consent["id"],
                },
                cm,
            )
            post(
                f"/v1/participants/{person}/goals",
                {"text": "find housing", "domain": "housing"},
                cm,
            )
            post(
                f"/v1/participants/{person}/contacts",
                {
                    "kind": "street_outreach",
                    "contacted_on": now.isoformat(),
                    "minutes": 30,
                    "notes": "talked it through",
                },
                cm,
            )
            case = post(
                "/v1/cases",
                {
                    "person_id": person,
                    "case_number": f"FZ-{uuid4().hex[:8]}",
                    "court": "KCDC",
                    "jurisdiction": "King County",
                    "incident_date": str(today - timedelta(days=30)),
                    "charges": [
                        {
                            "statute_code": "9A.56.050",
                            "description": "theft 3",
                            "severity": "gross_misdemeanor",
                        }
                    ],
                },
                dpa,
            )
            self.principal = f"fuzz.{uuid4().hex[:12]}"
            registered = client.post(
                "/v1/principals",
                json={"name": self.principal, "role": "evaluator", "organisation": "Fuzz"},
                headers=admin,
            )
            assert registered.status_code == 201, registered.text
            self.position = int(case["position"])
        self.ids: dict[str, list[str]] = {
            "/v1/referrals/": [enrolled["id"], waiting["id"]],
            "/v1/participants/": [person],
            "/v1/liaison/cases/": [person],
            "/v1/cases/": [case["id"]],
            "/v1/consents/": [consent["id"]],
            "/v1/caseloads/": ["cm.ortiz"],
            "/v1/principals/": [self.principal],
            "/v1/metrics/": ["lapses", "net-widening", "time-to-intake"],
        }
        self.turns: dict[str, Iterator[bool]] = {}

    def real_id(self, path: str) -> str | None:
        """Every other call to a `path` with a record in it: one of ours."""
        for prefix, ids in self.ids.items():
            if path.startswith(prefix) and "{" in path:
                turn = self.turns.setdefault(path, itertools.cycle([False, True]))
                if next(turn):
                    return ids[hash(path) % len(ids)]
        return None


@pytest.fixture(scope="module")
def site(backend: Backend, people: dict[str, dict[str, str]]) -> Site:
    return Site(backend, people)


# -- what a valid request looks like, beyond the schema ----------------------------------
KEEP_NAMES = frozenset(CAST) | {"site-admin"}
"""Principals the other tests use: never rotated or revoked here."""


def is_positive(case: Any) -> bool:
    """Whether the case was generated valid (read without revalidating: `case._meta`)."""
    meta = case._meta
    return meta is None or meta.generation.mode is GenerationMode.POSITIVE


def negative_at(case: Any, location: ParameterLocation) -> bool:
    meta = case._meta
    return meta is not None and bool(meta.is_negative_at(location))


def without_a_token(case: Any) -> bool:
    """The coverage phase's "Authorization missing" case: sent as it is, with no token."""
    return ("Authorization", ParameterLocation.HEADER) in set(negated_parameters(case._meta))


def follow_the_documentation(case: Any, site: Site) -> None:
    """Make a valid case valid the way the API documents (see the module docstring)."""
    path = case.operation.path
    params = case.path_parameters
    if params and not negative_at(case, ParameterLocation.PATH):
        real = site.real_id(path)
        name = next(iter(params))
        if real is not None:
            params[name] = real
        if path.startswith("/v1/principals/") and params.get(name) in KEEP_NAMES:
            params[name] = f"fuzz.{uuid4().hex[:12]}"
    body = case.body
    if path == "/v1/policy" and isinstance(body, dict) and isinstance(body.get("terms"), dict):
        body["terms"]["effective_from"] = "1900-01-01"  # before the policy in force: 409
    if not is_positive(case):
        return
    query = case.query
    if query:
        query.pop("cursor", None)
        if isinstance(query.get("min_position"), int):
            query["min_position"] = min(query["min_position"], site.position)
        if isinstance(query.get("since"), str) and isinstance(query.get("until"), str):
            since, until = (datetime.fromisoformat(query[k]) for k in ("since", "until"))
            if since == until:
                del query["until"]  # then until is now
            elif since > until:
                query["since"], query["until"] = query["until"], query["since"]


@contextmanager
def sent_as(case: Any, role: Role | None, people: dict[str, dict[str, str]]) -> Iterator[None]:
    """The case as `role` sends it (None: no token): their token, set as schemathesis's
    own auth is (so its ignored_auth probes can take it away); a new Idempotency-Key;
    an officer or community partner refers as themselves."""
    headers = case.headers
    if headers is None:
        case.headers = headers = {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and 0 < len(key.strip()) <= 200:  # not the invalid part
        headers["Idempotency-Key"] = str(uuid4())
    headers.pop("Authorization", None)
    case._has_explicit_auth = role is not None
    if role is not None:
        headers["Authorization"] = people[ONE_PER_ROLE[role]]["authorization"]
    body = case.body
    saved = None
    if (
        is_positive(case)
        and case.operation.path == "/v1/referrals"
        and role in (Role.OFFICER, Role.COMMUNITY_PARTNER)
        and isinstance(body, dict)
    ):
        name = ONE_PER_ROLE[role]
        saved = body.get("referrer")
        body["referrer"] = {"principal": name, "organisation": CAST[name][1]}
    try:
        yield
    finally:
        if saved is not None:
            body["referrer"] = saved


def calls_for(case: Any) -> bool:
    """Whether an allowed role is called with this case (see the module docstring)."""
    method, path = case.operation.method.upper(), case.operation.path
    if path.startswith("/v1/subscriptions/"):
        return False  # a stream that never ends
    # valid terms would adopt a policy on the shared stack
    return not ((method, path) == ("POST", "/v1/policy") and is_positive(case))


@contextmanager
def labelled(who: str) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:
        exc.add_note(f"called as: {who}")
        raise


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_role_gets_what_the_matrix_says(
    case: Any, backend: Backend, people: dict[str, dict[str, str]], site: Site
) -> None:
    method, path = case.operation.method.upper(), case.operation.path
    rule = access.rule_for(method, path)
    assert rule is not None, f"{method} {path} is not in the matrix"
    follow_the_documentation(case, site)
    if rule.public or without_a_token(case):
        with labelled(ANONYMOUS), sent_as(case, None, people):
            case.call_and_validate(timeout=60)
        return
    positive = is_positive(case)
    for role in access.PEOPLE_ROLES:
        with labelled(role.value), sent_as(case, role, people):
            if rule.allows(role):
                if calls_for(case):
                    case.call_and_validate(timeout=60)
            elif positive:
                response = case.call(timeout=60)
                assert response.status_code == 403, (response.status_code, response.text)
    if positive:
        with labelled(ANONYMOUS), sent_as(case, None, people):
            response = case.call(timeout=60)
            assert response.status_code == 401, (response.status_code, response.text)
