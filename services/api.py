"""The HTTP API. Handlers only translate: build a command, call the service, shape the answer.

Every request but the public health endpoints carries a bearer token; `authorize`
(one place) authenticates it and checks the route against the matrix in
`services.access`. Handlers narrow what a role may reach (their own referrals, their
own caseload) and record every answer that carries participant-level data as a
disclosure on `lead.audit.v1` before it leaves.

(No `from __future__ import annotations` here: FastAPI reads the command classes
from the annotations of the endpoint functions made by `create_routes`.)
"""

import asyncio
import contextlib
import copy
import functools
import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError, SchemaValidator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from events.access import PRINCIPAL_NAME
from events.base import Actor, Role, a_role
from events.consent import InformationKind
from events.disclosure import authentication_record, disclosure_record
from events.envelope import CloudEvent
from events.participant import ParticipantStatus
from events.referral import Pathway
from events.text import Text
from events.topics import projection_topic
from projections import agenda as agenda_queries
from projections import audit as audit_queries
from projections import caseloads as caseload_queries
from projections import evaluation
from projections import queue as queue_queries
from projections import referrals as referral_queries
from projections.referrals import ReferralStatus
from services import access, answers, reads, subscriptions
from services import commands as c
from services.application import LeadApplication, Receipt
from services.errors import NotFoundError
from services.idempotency import MAX_KEY
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorError, page
from services.principals import (
    AuthenticationError,
    Issued,
    Principals,
    TokenExpiredError,
    parse_token,
)
from services.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    install_problem_handlers,
    problem_response,
)
from services.throttle import FailureThrottle

ReadYourWrites = Callable[[list[str], int, float], bool]
Readiness = Callable[[], dict[str, Any]]
Record = Callable[[list[CloudEvent]], None]

SUBSCRIBABLE = ("referrals", "queue", "caseloads", "agenda")


class ReceiptOut(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "5b0c1f7e-3b0e-4a8c-9e7d-5a1b2c3d4e5f",
                    "person_id": "9a7e2c4b-1d3f-4e5a-8b6c-7d8e9f0a1b2c",
                    "position": 4812,
                    "version": 3,
                    "warnings": ["caseload of cm.ortiz is above the warning level (21 of 20)"],
                }
            ]
        }
    }
    id: UUID
    person_id: UUID | None
    position: int = Field(description="Store position reached; pass as min_position to read it")
    version: int
    warnings: tuple[str, ...] = ()


class DisclosureAnswer(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [{"allowed": True, "consent_id": "0d9f6c1a-2b3c-4d5e-8f90-1a2b3c4d5e6f"}]
        }
    }
    allowed: bool
    consent_id: UUID | None


class NewPrincipal(BaseModel):
    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"name": "officer.reyes", "role": "officer", "organisation": "Seattle PD"}]
        },
    }
    name: Text = Field(pattern=PRINCIPAL_NAME)
    role: Role
    organisation: Text = Field(min_length=1, max_length=200)
    valid_days: int | None = Field(
        None, ge=1, le=3650, description="How long the token works; the site's default if unset"
    )


class IssuedToken(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "3c2f6e7d-9b10-5f0c-8a52-1d7e4b8e9a51",
                    "name": "officer.reyes",
                    "token": "lead.PAxvfh0eS5aRUS8vbn2bEA.<secret shown once>",
                    "expires_at": "2027-03-07T09:30:00Z",
                }
            ]
        }
    }
    id: UUID
    name: str
    token: str = Field(description="Shown once: only its hash is kept")
    expires_at: datetime | None = Field(description="When the token stops working")


class Revocation(BaseModel):
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"reason": "left"}]}}
    reason: Text = Field(min_length=1, max_length=500)


@dataclass(frozen=True)
class ApiOptions:
    suppress_below: int = 11
    equity_baseline: dict[str, int] = field(default_factory=dict)
    source: str = "urn:lead:site:lead-site"
    read_timeout: float = 10.0
    bootstrap_servers: str | None = None  # for live subscriptions
    auth_failure_limit: int = 10  # failed authentications from one address ...
    auth_failure_window: float = 60.0  # ... within this many seconds: then 429


def issued_token(issued: Issued) -> IssuedToken:
    return IssuedToken(
        id=issued.principal_id, name=issued.name, token=issued.token, expires_at=issued.expires_at
    )


def out(receipt: Receipt) -> ReceiptOut:
    return ReceiptOut(
        id=receipt.id,
        person_id=receipt.person_id,
        position=receipt.position,
        version=receipt.version,
        warnings=receipt.warnings,
    )


def current_actor(request: Request) -> Actor:
    actor = getattr(request.state, "actor", None)
    if not isinstance(actor, Actor):  # a public route asked for an actor: a programming error
        raise HTTPException(401, "a bearer token is required")
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]
MinPosition = Annotated[
    int | None,
    Query(ge=0, description="Wait until the view has applied this store position (a write's)"),
]
Cursor = Annotated[
    Text | None, Query(max_length=400, description="next_cursor of the previous page")
]
Name = Annotated[Text, Path(min_length=1, max_length=200)]
"""A principal's or case manager's name in a path."""


class VisibleStatus(StrEnum):
    """A referral's status as its reader sees it: a referrer without a consent naming them
    sees "closed" where the program sees enrolled or withdrawn."""

    RECEIVED = ReferralStatus.RECEIVED.value
    ELIGIBLE = ReferralStatus.ELIGIBLE.value
    EXCLUDED = ReferralStatus.EXCLUDED.value
    APPROVED = ReferralStatus.APPROVED.value
    DECLINED = ReferralStatus.DECLINED.value
    INTAKE_SCHEDULED = ReferralStatus.INTAKE_SCHEDULED.value
    ENROLLED = ReferralStatus.ENROLLED.value
    LAPSED = ReferralStatus.LAPSED.value
    WITHDRAWN = ReferralStatus.WITHDRAWN.value
    CLOSED = "closed"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


KEY_PATTERN = r"^[!-~](?:[ -~]*[!-~])?$"
"""An Idempotency-Key is visible ASCII (spaces inside): what a header carries as it is sent."""


def idempotency_key(
    key: Annotated[
        str,  # not Text: KEY_PATTERN is stricter, and Text's own would allow line breaks
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_KEY,
            pattern=KEY_PATTERN,
            description="Required: a new key (a UUID) per request; a retry with the same key "
            "gets the first answer and records nothing twice",
        ),
    ],
) -> None:
    """Declares the header; `IdempotencyMiddleware` acts on it."""


RECORDS = [Depends(idempotency_key)]
"""For every POST that records something: without an Idempotency-Key it is refused (422)."""
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise PydanticCustomError("datetime_type", "Input should be a date and time, not a number")
    return value


QueryTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
"""A time in a query: ISO 8601 with its offset, as documented (pydantic alone reads a number
as seconds since 1970, and a time without an offset as one in no zone)."""


AS_TEXT = {
    "date": (r"^\d{4}-\d{2}-\d{2}$", "date_parsing", "as text, e.g. 2026-03-02"),
    "datetime": (
        r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$",
        "datetime_parsing",
        "as text, e.g. 2026-03-02T09:30:00-08:00",
    ),
    "uuid": (
        r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        "uuid_parsing",
        "as text, e.g. 0b8e4c1e-5a43-4f5e-9a7e-2f1d6c3b9a10",
    ),
}
"""How JSON carries a date, a date and time, and a UUID (RFC 3339, RFC 4122): as text of
this form (not a number of seconds, not hex digits without their hyphens); the error a
value of another form gets, and what it says."""


def _as_text(kind: str) -> dict[str, Any]:
    pattern, error, says = AS_TEXT[kind]
    text = {"type": "str", "pattern": pattern}
    # A union of one is validated as its only member, which has no error of its own.
    return {
        "type": "union",
        "choices": [text, text],
        "custom_error_type": error,
        "custom_error_context": {"error": says},
    }


CONSTRAINTS = frozenset(
    f"{name}_validator"
    for name in (
        "greater_than",
        "greater_than_or_equal",
        "less_than",
        "less_than_or_equal",
        "multiple_of",
        "min_length",
        "max_length",
    )
)
"""pydantic's own checks of a field's bounds, where it cannot put them in the schema."""


def _is_constraint(function: Any) -> bool:
    return (
        isinstance(function, functools.partial)
        and getattr(function.func, "__module__", "") == "pydantic._internal._validators"
        and getattr(function.func, "__name__", "") in CONSTRAINTS
    )


def types_only(schema: Any) -> Any:
    """A pydantic core schema without its functions: the types and constraints alone,
    dates, times and UUIDs as the text JSON carries them in (`AS_TEXT`). Lengths are
    the sent text's then, as JSON Schema counts them (Text checks the normalised text
    too, so a CRLF is not one character short of a limit).

    Each model's class is swapped for a plain one too, or pydantic-core would validate
    a complete model with the model's own validator, functions and all."""
    if isinstance(schema, list):
        return [types_only(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind in AS_TEXT:
        return _as_text(kind)
    if kind == "function-after" and _is_constraint(schema["function"].get("function")):
        return {**schema, "schema": types_only(schema["schema"])}
    if kind in ("function-before", "function-after", "function-wrap"):
        return types_only(schema["schema"])
    if kind == "function-plain":
        return {"type": "any"}
    stripped = {key: types_only(value) for key, value in schema.items()}
    if kind == "model":
        stripped["cls"] = type("Checked", (), {})
    return stripped


async def check_json_body(request: Request) -> None:
    """The route's `JsonBodyRoute.checker` on the body, once the caller is authorised."""
    checker = getattr(request.scope.get("route"), "checker", None)
    body = await request.body()
    if checker is None or not body:
        return
    try:
        checker.validate_json(body, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not any(e["type"] == "json_invalid" for e in errors):  # FastAPI answers those
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in errors]
            ) from None


class JsonBodyRoute(APIRoute):
    """A route that checks a JSON body as JSON first, strictly: every value of the type
    the document states (`0` is not a date, `"25"` not a number, `1` not `true`).

    FastAPI validates the decoded body, and pydantic converts all of those; so, after
    the caller's role is checked, the body is checked against its model's types alone
    (`types_only`) in pydantic's strict JSON mode, and then validated as usual (every
    validator, the same errors)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        dependencies = [*(kwargs.pop("dependencies", None) or []), Depends(check_json_body)]
        super().__init__(path, endpoint, dependencies=dependencies, **kwargs)
        body_type = self.body_field.field_info.annotation if self.body_field else None
        self.checker = (
            None
            if body_type is None
            else SchemaValidator(types_only(TypeAdapter(body_type).core_schema))
        )


def create_routes(
    router: FastAPI,
    path: str,
    command: type[c.Command],
    handler: Callable[[UUID, Any, Actor], Receipt],
    summary: str,
    guard: Callable[[UUID, Actor], None] | None = None,
) -> None:
    """POST path/{id}: one command on one aggregate."""

    def endpoint(id: UUID, body: command, actor: ActorDep) -> ReceiptOut:  # type: ignore[valid-type]
        if guard is not None:
            guard(id, actor)
        return out(handler(id, body, actor))

    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        dependencies=RECORDS,
        response_model=ReceiptOut,
        summary=summary,
        name=summary,
        responses=PROBLEM_RESPONSES,
    )


def create_api(
    application: LeadApplication,
    read_pool: ConnectionPool[Any],
    principals: Principals,
    *,
    lifespan: Callable[..., Any] | None = None,
    options: ApiOptions | None = None,
    record_disclosures: Record | None = None,
    read_your_writes: ReadYourWrites | None = None,
    readiness: Readiness | None = None,
) -> FastAPI:
    opts = options or ApiOptions()
    app = application
    bearer = HTTPBearer(auto_error=False, description="A token from `lead principals add`")
    throttle = FailureThrottle(opts.auth_failure_limit, opts.auth_failure_window)

    def authentication(
        request: Request, source: str, outcome: str, reason: str, token: str | None = None
    ) -> CloudEvent:
        claimed = None
        if token is not None:
            with contextlib.suppress(AuthenticationError):
                claimed = parse_token(token)[0]
        return authentication_record(
            record_id=f"authentication:{uuid.uuid4()}",
            source=opts.source,
            outcome=outcome,
            client_address=source,
            method=request.method,
            path=request.url.path,
            reason=reason,
            at=datetime.now(UTC),
            principal_id=claimed,
        )

    def failed(request: Request, source: str, reason: str, token: str | None = None) -> None:
        """Counted towards the source's throttle, and recorded for the audit trail."""
        throttle.failed(source)
        record([authentication(request, source, "failed", reason, token)])

    def authorize(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        """Authentication and the role check, for every route, from the matrix."""
        route = request.scope.get("route")
        rule = access.rule_for(request.method, getattr(route, "path", ""))
        if rule is not None and rule.public:
            return
        source = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(source)
        if wait is not None:
            seconds = str(math.ceil(wait))
            if throttle.first_refusal(source):
                why = f"{throttle.limit} failed authentications within {throttle.window:g} s"
                record([authentication(request, source, "throttled", why)])
            raise HTTPException(
                429,
                f"too many failed authentications from this address; retry in {seconds} s",
                headers={"Retry-After": seconds},
            )
        if credentials is None or credentials.scheme.lower() != "bearer":
            # Not counted towards the throttle: no token, no guess (a client set up
            # without one, or a probe of what needs one); recorded all the same.
            record([authentication(request, source, "failed", "no bearer token")])
            raise HTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            actor = principals.authenticate(credentials.credentials)
        except TokenExpiredError:
            failed(request, source, "expired token", credentials.credentials)
            raise HTTPException(
                401,
                "the token has expired; an administrator rotates it for a new one",
                headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                    'error_description="The token expired"'
                },
            ) from None
        except AuthenticationError:
            failed(
                request,
                source,
                "unknown, malformed, replaced or revoked token",
                credentials.credentials,
            )
            raise HTTPException(
                401,
                "the token is not valid (unknown, replaced or revoked)",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        if rule is None or not rule.allows(actor.role):
            raise HTTPException(403, f"{a_role(actor.role)} may not do this")
        request.state.actor = actor

    api = FastAPI(
        title="LEAD coordination backend",
        version="0.2.0",
        description=(
            "System of record for a LEAD site: referrals, contacts, cases, consents. "
            "Every request carries a bearer token (`lead principals add`); what each "
            "role may do is in docs/access.md. Errors are application/problem+json. "
            "POSTs accept an Idempotency-Key header."
        ),
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
        responses=PROBLEM_RESPONSES,
    )
    api.router.route_class = JsonBodyRoute
    install_problem_handlers(api)
    api.add_exception_handler(405, method_not_allowed)

    def not_found(what: str) -> HTTPException:
        """The same answer whether it does not exist or the caller may not see it."""
        return HTTPException(404, f"no {what} that you may see")

    def fresh(projections: list[str], position: int | None) -> None:
        """Read-your-writes: wait until the views have applied the caller's write."""
        if position is None or read_your_writes is None:
            return
        latest = app.recorder.max_notification_id() or 0
        if position > latest:
            raise HTTPException(
                422,
                f"query parameter min_position: {position} is beyond the store's latest "
                f"position ({latest}); pass the position a write answered with",
            )
        if not read_your_writes(projections, position, opts.read_timeout):
            raise HTTPException(
                503,
                f"the view has not reached store position {position} within "
                f"{opts.read_timeout:.0f}s; retry shortly",
                headers={"Retry-After": "1"},
            )

    def read(query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with read_pool.connection() as conn:
            conn.row_factory = dict_row
            return query(conn, *args, **kwargs)

    def paged(items: list[Any], key: Callable[[Any], Any], cursor: str | None, limit: int) -> Any:
        try:
            return page(items, key, cursor, limit)
        except CursorError as exc:
            raise HTTPException(422, str(exc)) from None

    def record(records: list[CloudEvent]) -> None:
        """On `lead.audit.v1` before the answer leaves: no record, no answer."""
        if record_disclosures is not None and records:
            record_disclosures(records)

    def record_staff_access(
        actor: Actor, people: Iterable[UUID], kind: str, channel: str, what: str
    ) -> None:
        """The program's own staff read participant-level data: recorded, no consent needed."""
        basis = f"program staff ({actor.role.value.replace('_', ' ')}): {what}"
        record(
            reads.access_records(
                actor,
                [(p, kind, None, basis) for p in dict.fromkeys(people)],
                source=opts.source,
                channel=channel,
                purpose=f"read by {actor.principal}: {what}",
            )
        )

    # -- health ---------------------------------------------------------------------
    @api.get("/healthz", summary="The API process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get(
        "/readyz",
        summary="PostgreSQL, Kafka and the read side are ready",
        responses={200: {"model": answers.Readiness}},
    )
    def readyz() -> JSONResponse:
        checks = readiness() if readiness else {"ready": True}
        return JSONResponse(checks, status_code=200 if checks.get("ready") else 503)

    # -- who am I, and principals ----------------------------------------------------------
    @api.get("/v1/me", summary="The caller as the API knows them")
    def me(actor: ActorDep) -> Actor:
        return actor

    @api.get(
        "/v1/principals",
        summary="Every principal, active or revoked (no tokens)",
        responses={200: {"model": answers.Page[answers.PrincipalView]}},
    )
    def list_principals(cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT) -> Any:
        views = [
            {
                "id": v.id,
                "name": v.name,
                "role": v.role.value,
                "organisation": v.organisation,
                "registered_at": v.registered_at,
                "revoked_at": v.revoked_at,
                "revoked_reason": v.revoked_reason,
                "valid_until": v.token_expires_at,  # when its current token stops working
            }
            for v in principals.list()
        ]
        return paged(views, lambda v: (v["name"],), cursor, limit)

    @api.post(
        "/v1/principals",
        status_code=201,
        summary="Register a principal; token shown once",
        dependencies=RECORDS,
    )
    def add_principal(body: NewPrincipal, actor: ActorDep, response: Response) -> IssuedToken:
        response.headers["Cache-Control"] = "no-store"  # a secret: not kept for replays
        issued = principals.add(
            actor=actor,
            name=body.name,
            role=body.role,
            organisation=body.organisation,
            valid_for=timedelta(days=body.valid_days) if body.valid_days else None,
        )
        return issued_token(issued)

    @api.post(
        "/v1/principals/{name}/rotate",
        summary="Issue a new token; the old one stops",
        dependencies=RECORDS,
    )
    def rotate_principal(
        name: Name,
        actor: ActorDep,
        response: Response,
        valid_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    ) -> IssuedToken:
        """The old token stops at once; the new one works for `valid_days` (or the default)."""
        response.headers["Cache-Control"] = "no-store"
        valid_for = timedelta(days=valid_days) if valid_days else None
        return issued_token(principals.rotate(actor=actor, name=name, valid_for=valid_for))

    @api.post(
        "/v1/principals/{name}/revoke",
        summary="Revoke a principal's access at once",
        dependencies=RECORDS,
        responses={200: {"model": answers.RevokedPrincipal}},
    )
    def revoke_principal(name: Name, body: Revocation, actor: ActorDep) -> dict[str, Any]:
        view = principals.revoke(actor=actor, name=name, reason=body.reason)
        return {"name": view.name, "revoked_at": view.revoked_at}

    # -- policy ----------------------------------------------------------------------
    @api.post(
        "/v1/policy",
        status_code=201,
        response_model=ReceiptOut,
        summary="Adopt policy",
        dependencies=RECORDS,
    )
    def adopt_policy(command: c.AdoptPolicy, actor: ActorDep) -> ReceiptOut:
        return out(app.adopt_policy(command, actor))

    @api.get(
        "/v1/policy",
        summary="Every version of the site policy",
        responses={200: {"model": answers.PolicyVersions}},
    )
    def read_policy() -> dict[str, Any]:
        policy = app.get_policy()
        return {
            "versions": [{"version": v, **t.model_dump(mode="json")} for v, t in policy.versions]
        }

    # -- referrals -----------------------------------------------------------------
    @api.post(
        "/v1/referrals",
        status_code=201,
        response_model=ReceiptOut,
        summary="Refer",
        dependencies=RECORDS,
    )
    def receive_referral(command: c.ReceiveReferral, actor: ActorDep) -> ReceiptOut:
        if actor.role in (Role.OFFICER, Role.COMMUNITY_PARTNER):
            ref = command.referrer
            if (ref.principal, ref.organisation) != (actor.principal, actor.organisation):
                raise HTTPException(
                    422,
                    f"body.referrer: must be you ({actor.principal} of {actor.organisation}) "
                    f"when you refer as {a_role(actor.role)}",
                )
        return out(app.receive_referral(command, actor))

    ReferrerView = tuple[dict[str, Any], dict[str, Any], UUID | None, str | None]

    def referrer_views(actor: Actor, referrals: list[dict[str, Any]]) -> list[ReferrerView]:
        """Each referral as its referrer may see it, beside the row it comes from."""
        now = datetime.now(UTC)
        return [(r, *reads.referrer_view(app, actor, r, now)) for r in referrals]

    def referrer_answers(actor: Actor, views: list[ReferrerView], channel: str) -> list[Any]:
        record(
            reads.access_records(
                actor,
                [
                    (row["person_id"], InformationKind.PROGRAM_STATUS.value, consent, basis)
                    for row, _, consent, basis in views
                ],
                source=opts.source,
                channel=channel,
                purpose=f"{actor.principal} followed their referral",
            )
        )
        return [view for _, view, _, _ in views]

    def referral_answer(actor: Actor, referral: dict[str, Any], channel: str) -> dict[str, Any]:
        if access.sees_all_referrals(actor):
            record_staff_access(actor, [referral["person_id"]], "referral", channel, "referral")
            return referral
        [answer] = referrer_answers(actor, referrer_views(actor, [referral]), channel)
        return dict(answer)

    @api.get(
        "/v1/referrals",
        summary="Referrals (referrers: their own, status only)",
        responses={200: {"model": answers.Page[answers.ReferralView | answers.ReferrerView]}},
    )
    def list_referrals(
        actor: ActorDep,
        status: Annotated[
            VisibleStatus | None,
            Query(description="Only referrals with this status, as the caller sees it"),
        ] = None,
        pathway: Pathway | None = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Filters test what the caller is shown: a referrer's "closed" is the program's
        enrolled or withdrawn, and filtering by those would tell what the view hides."""
        fresh(["referrals"], min_position)
        channel = "api:/v1/referrals"

        def key(r: dict[str, Any]) -> tuple[Any, ...]:
            return (r["received_at"], r["referral_id"])

        staff = access.sees_all_referrals(actor)
        rows = read(
            referral_queries.list_referrals,
            referrer=None if staff else actor.principal,
            status=status.value if staff and status else None,
            pathway=pathway.value if pathway else None,
        )
        if staff:
            result = paged(rows, key, cursor, limit)
            record_staff_access(
                actor, (r["person_id"] for r in result["items"]), "referral", channel, "referral"
            )
            return result
        if status is None:  # nothing to filter on: only the page's consents are looked up
            result = paged(rows, key, cursor, limit)
            result["items"] = referrer_answers(
                actor, referrer_views(actor, result["items"]), channel
            )
            return result
        views = [v for v in referrer_views(actor, rows) if v[1]["status"] == status.value]
        result = paged(views, lambda v: key(v[0]), cursor, limit)
        result["items"] = referrer_answers(actor, result["items"], channel)
        return result

    @api.get(
        "/v1/referrals/{referral_id}",
        summary="One referral (referrers: status only)",
        responses={200: {"model": answers.ReferralView | answers.ReferrerView}},
    )
    def read_referral(
        referral_id: UUID, actor: ActorDep, min_position: MinPosition = None
    ) -> dict[str, Any]:
        fresh(["referrals"], min_position)
        referral = read(referral_queries.get_referral, referral_id)
        if referral is None:
            raise not_found("referral (yet)")
        if not access.own_referral(actor, referral["referrer"]["principal"]):
            channel = "api:/v1/referrals/{referral_id}"
            refused(actor, referral["person_id"], InformationKind.PROGRAM_STATUS.value, channel)
            raise not_found("referral (yet)")
        return referral_answer(actor, referral, "api:/v1/referrals/{referral_id}")

    # -- caseloads -----------------------------------------------------------------------
    @api.get(
        "/v1/caseloads",
        summary="Caseload sizes against target, warning and cap",
        responses={200: {"model": answers.Page[answers.CaseloadSize]}},
    )
    def caseloads(
        actor: ActorDep,
        case_manager: Annotated[Text | None, Query(max_length=200)] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Each case manager's caseload size; a case manager sees their own."""
        fresh(["caseloads"], min_position)
        if actor.role is Role.CASE_MANAGER:
            if case_manager not in (None, actor.principal):
                raise not_found("caseload")
            case_manager = actor.principal
        rows = read(
            caseload_queries.list_caseloads, now=datetime.now(UTC), case_manager=case_manager
        )
        return paged(rows, lambda r: (r["case_manager"],), cursor, limit)

    @api.get(
        "/v1/caseloads/{case_manager}",
        summary="One caseload, most in need first",
        responses={200: {"model": answers.Page[answers.CaseloadMember]}},
    )
    def caseload(
        case_manager: Name,
        actor: ActorDep,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Last contact, days since, contacts in 30 days, open goals, in the wind."""
        if not access.reads_caseload(actor, case_manager):
            raise not_found("caseload")
        fresh(["caseloads"], min_position)
        rows = read(caseload_queries.list_caseload, case_manager, now=datetime.now(UTC))

        def key(r: dict[str, Any]) -> tuple[Any, ...]:
            seen = r["last_contact_at"]
            return (seen is not None, seen, r["enrolled_on"], r["person_id"])

        result = paged(rows, key, cursor, limit)
        record_staff_access(
            actor,
            (r["person_id"] for r in result["items"]),
            "caseload",
            "api:/v1/caseloads/{case_manager}",
            "caseload",
        )
        return result

    # -- participants: the case record ---------------------------------------------------
    def works_with(person_id: UUID, actor: Actor, read: str | None = None) -> None:
        """404 unless the caller works with the participant; a refused `read` (its
        channel) is recorded as withheld."""
        try:
            participant = app.participant(person_id)
        except NotFoundError:
            raise not_found("participant") from None
        if not access.works_with(actor, participant.case_manager):
            if read is not None:
                refused(actor, person_id, "case_record", read)
            raise not_found("participant")

    def refused(actor: Actor, person_id: UUID, kind: str, channel: str) -> None:
        """A read of someone's record outside the caller's scope: 404 to the caller (as for
        no record), a withheld disclosure for the auditors."""
        record(
            [
                disclosure_record(
                    record_id=f"disclosure:{uuid.uuid4()}",
                    source=opts.source,
                    person_id=str(person_id),
                    recipient_principal=actor.principal,
                    recipient_organisation=actor.organisation,
                    recipient_role=actor.role.value,
                    channel=channel,
                    information_kind=kind,
                    purpose=f"asked by {actor.principal}",
                    consent_id=None,
                    at=datetime.now(UTC),
                    reason="outside the caller's scope",
                )
            ]
        )

    @api.get(
        "/v1/participants/{person_id}",
        summary="The case record, contact notes included",
        responses={200: {"model": answers.CaseRecord}},
    )
    def participant_record(person_id: UUID, actor: ActorDep) -> dict[str, Any]:
        """Only for the participant's case manager and the project manager."""
        works_with(person_id, actor, read="api:/v1/participants/{person_id}")
        record_staff_access(
            actor,
            [person_id],
            "case_record",
            "api:/v1/participants/{person_id}",
            "case record with contact notes",
        )
        return reads.participant_record(app, person_id)

    # -- referral queue and OWG agenda ------------------------------------------------------
    @api.get(
        "/v1/queue",
        summary="Open referrals in priority order, and places left",
        responses={200: {"model": answers.Queue}},
    )
    def queue(
        actor: ActorDep,
        pathway: Pathway | None = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> dict[str, Any]:
        fresh(["queue"], min_position)
        entries = read(
            queue_queries.list_queue,
            today=date.today(),
            pathway=pathway.value if pathway else None,
        )
        result: dict[str, Any] = paged(entries, queue_queries.priority, cursor, limit)
        record_staff_access(
            actor, (e["person_id"] for e in result["items"]), "referral", "api:/v1/queue", "queue"
        )
        return {"capacity_left": app.capacity_left(), **result}

    @api.get(
        "/v1/owg-agenda",
        summary="What changed since the last OWG meeting",
        responses={200: {"model": answers.Agenda}},
    )
    def owg_agenda(
        actor: ActorDep,
        since: QueryTime,
        until: QueryTime | None = None,
        min_position: MinPosition = None,
    ) -> Any:
        fresh(["agenda"], min_position)
        try:
            sections = read(agenda_queries.agenda, since=since, until=until or datetime.now(UTC))
        except ValueError as exc:
            raise HTTPException(422, f"query parameter since: {exc}") from None
        people = [
            item["person_id"]
            for items in sections.values()
            for item in items
            if item.get("person_id")
        ]
        record_staff_access(actor, people, "agenda", "api:/v1/owg-agenda", "OWG agenda")
        return sections

    # -- audit -------------------------------------------------------------------------
    @api.get(
        "/v1/audit/trail",
        summary="Every event with its actor, every disclosure",
        responses={200: {"model": answers.Trail}},
    )
    def audit_trail(
        actor: ActorDep,
        person_id: UUID | None = None,
        since: QueryTime | None = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Page on with `since` = the last item's time."""
        fresh(["audit"], min_position)
        trail = read(audit_queries.trail, person_id=person_id, since=since, limit=limit)
        people = [
            row["person_id"]
            for rows in trail.values()
            for row in rows
            if row.get("person_id") is not None
        ]
        record(
            reads.access_records(
                actor,
                [(p, "audit_trail", None, "audit") for p in dict.fromkeys(people)],
                source=opts.source,
                channel="api:/v1/audit/trail",
                purpose=f"audit by {actor.principal}",
            )
        )
        return trail

    # -- liaison prosecutor and public defender: consent-gated ------------------------------
    Withheld = dict[UUID, list[InformationKind]]

    def disclose(query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with read_pool.connection() as conn:
            conn.row_factory = dict_row
            return query(app, conn, *args, **kwargs)

    def recorded(
        view: list[dict[str, Any]], actor: Actor, channel: str, withheld: Withheld
    ) -> list[dict[str, Any]]:
        record(
            reads.liaison_disclosures(
                view, actor, source=opts.source, channel=channel, withheld=withheld
            )
        )
        return view

    @api.get(
        "/v1/liaison/cases",
        summary="Cases of people whose consent covers the caller now",
        responses={200: {"model": answers.Page[answers.LiaisonView]}},
    )
    def liaison_cases(
        actor: ActorDep,
        status: Annotated[
            ParticipantStatus | None,
            Query(
                description="Only people with this program status (among those whose "
                "program status the caller may see)"
            ),
        ] = None,
        case_status: Annotated[
            CaseStatus | None,
            Query(description="Only cases still open (no disposition yet), or only closed ones"),
        ] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Any:
        """Never contact notes, whatever the consent. Filters test only what the caller is
        shown: a program status withheld for want of consent matches no `status`."""
        fresh(["liaison"], min_position)
        withheld: Withheld = {}
        view: list[dict[str, Any]] = disclose(reads.liaison_case_view, actor, withheld=withheld)
        if status is not None:
            view = [e for e in view if (e.get("program") or {}).get("status") == status.value]
        if case_status is not None:
            closed = case_status is CaseStatus.CLOSED
            view = [
                {**e, "cases": [k for k in e.get("cases", []) if k["closed"] is closed]}
                for e in view
            ]
            view = [e for e in view if e["cases"]]
        result = paged(view, lambda e: (e["person_id"],), cursor, limit)
        recorded(result["items"], actor, "api:/v1/liaison/cases", withheld)
        return result

    @api.get(
        "/v1/liaison/cases/{person_id}",
        summary="One person's case view, if consented",
        responses={200: {"model": answers.LiaisonView}},
    )
    def liaison_person(
        person_id: UUID, actor: ActorDep, min_position: MinPosition = None
    ) -> dict[str, Any]:
        fresh(["liaison"], min_position)
        withheld: Withheld = {}
        found: list[dict[str, Any]] = disclose(
            reads.liaison_case_view, actor, person_id, withheld=withheld
        )
        if not found:
            channel = "api:/v1/liaison/cases/{person_id}"
            with read_pool.connection() as conn:
                conn.row_factory = dict_row
                refused = reads.liaison_withheld(
                    conn, actor, person_id, source=opts.source, channel=channel
                )
            record(refused)
            raise not_found("case view for that person")
        return recorded(found, actor, "api:/v1/liaison/cases/{person_id}", withheld)[0]

    # -- evaluation (de-identified, small cells suppressed) -----------------------------------
    metrics: dict[str, Callable[..., Any]] = {
        "referrals-by-pathway-and-month": evaluation.referrals_by_pathway_and_month,
        "net-widening": evaluation.net_widening,
        "time-to-intake": evaluation.time_to_intake,
        "lapses": evaluation.lapses,
        "contacts-per-participant-month": evaluation.contacts_per_participant_month,
        "housing-transitions": evaluation.housing_transitions,
        "income-transitions": evaluation.income_transitions,
        "filings-before-after-enrollment": evaluation.filings_before_after_enrollment,
    }

    @api.get(
        "/v1/metrics/referrals-by-race-ethnicity",
        summary="Equity: referrals by race",
        responses={200: {"model": answers.Equity}},
    )
    def equity(min_position: MinPosition = None) -> Any:
        """Referrals by race and ethnicity beside the site's baseline of eligible arrests."""
        fresh(["evaluation"], min_position)
        return read(
            evaluation.referrals_by_race_ethnicity,
            opts.equity_baseline,
            suppress_below=opts.suppress_below,
        )

    @api.get(
        "/v1/metrics/{name}",
        summary="An evaluation metric, de-identified",
        responses={200: {"model": answers.Metric}},
    )
    def metric(
        name: Annotated[Text, Path(max_length=100)], min_position: MinPosition = None
    ) -> Any:
        if name not in metrics:
            known = ", ".join(sorted([*metrics, "referrals-by-race-ethnicity"]))
            raise HTTPException(404, f"no metric {name!r}; known: {known}")
        fresh(["evaluation"], min_position)
        return read(metrics[name], suppress_below=opts.suppress_below)

    # -- commands on one aggregate -----------------------------------------------------------
    participant_guard = works_with
    steps: list[
        tuple[
            str,
            type[c.Command],
            Callable[[UUID, Any, Actor], Receipt],
            str,
            Callable[[UUID, Actor], None] | None,
        ]
    ] = [
        ("/v1/referrals/{id}/approve", c.ApproveReferral, app.approve_referral, "Approve", None),
        ("/v1/referrals/{id}/decline", c.DeclineReferral, app.decline_referral, "Decline", None),
        (
            "/v1/referrals/{id}/warm-handoff",
            c.CompleteWarmHandoff,
            app.complete_warm_handoff,
            "Record the warm handoff",
            None,
        ),
        (
            "/v1/referrals/{id}/intake-schedule",
            c.ScheduleIntake,
            app.schedule_intake,
            "Schedule intake",
            None,
        ),
        (
            "/v1/referrals/{id}/intake",
            c.CompleteIntake,
            app.complete_intake,
            "Complete intake (enrolls)",
            None,
        ),
        (
            "/v1/referrals/{id}/lapse",
            c.LapseReferral,
            app.lapse_referral,
            "Lapse a referral past its intake deadline",
            None,
        ),
        (
            "/v1/referrals/{id}/withdraw",
            c.WithdrawReferral,
            app.withdraw_referral,
            "The person declines or withdraws",
            None,
        ),
        ("/v1/cases/{id}/warrants", c.IssueWarrant, app.update_case, "Issue a warrant", None),
        (
            "/v1/cases/{id}/warrants/quash",
            c.QuashWarrant,
            app.update_case,
            "Quash a warrant",
            None,
        ),
        (
            "/v1/cases/{id}/charging-decisions",
            c.RecordChargingDecision,
            app.update_case,
            "Record a charging decision",
            None,
        ),
        (
            "/v1/cases/{id}/recommendations",
            c.RecordLiaisonRecommendation,
            app.update_case,
            "Record the liaison prosecutor's recommendation",
            None,
        ),
        (
            "/v1/cases/{id}/hearings",
            c.ScheduleHearing,
            app.update_case,
            "Schedule a hearing",
            None,
        ),
        (
            "/v1/cases/{id}/disposition",
            c.RecordDisposition,
            app.update_case,
            "Record the disposition",
            None,
        ),
        (
            "/v1/consents/{id}/revoke",
            c.RevokeConsent,
            app.revoke_consent,
            "Revoke a consent",
            None,
        ),
        (
            "/v1/consents/{id}/expire",
            c.ExpireConsent,
            app.expire_consent,
            "Record a consent's expiry",
            None,
        ),
        *[(*step, participant_guard) for step in participant_steps(app)],
    ]
    for path, command, handler, summary, guard in steps:
        create_routes(api, path, command, handler, summary, guard)

    # -- cases and consents ------------------------------------------------------------
    @api.post(
        "/v1/cases",
        status_code=201,
        response_model=ReceiptOut,
        summary="Open a case",
        dependencies=RECORDS,
    )
    def open_case(command: c.OpenCase, actor: ActorDep) -> ReceiptOut:
        return out(app.open_case(command, actor))

    @api.post(
        "/v1/consents",
        status_code=201,
        response_model=ReceiptOut,
        summary="Consent",
        dependencies=RECORDS,
    )
    def grant_consent(command: c.GrantConsent, actor: ActorDep) -> ReceiptOut:
        return out(app.grant_consent(command, actor))

    @api.post(
        "/v1/disclosure-checks",
        response_model=DisclosureAnswer,
        summary="May this recipient receive this kind of information about this person now?",
    )
    def check_disclosure(question: c.DisclosureQuestion) -> DisclosureAnswer:
        consent = app.consent_for_disclosure(question)
        return DisclosureAnswer(
            allowed=consent is not None, consent_id=consent.id if consent else None
        )

    # -- live subscriptions ---------------------------------------------------------------
    @api.get(
        "/v1/subscriptions/{projection}",
        summary="Server-Sent Events of a view's row changes; resumable with Last-Event-ID",
        response_class=StreamingResponse,  # it answers a stream, never JSON, when it answers 200
        responses={
            200: {
                "description": "One `data:` line of JSON per row change, `id:` to resume at",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    )
    async def subscribe(
        projection: str,
        request: Request,
        actor: ActorDep,
        start: str = Query("beginning", pattern="^(beginning|now)$"),
        pathway: Pathway | None = None,
    ) -> Any:
        if projection not in SUBSCRIBABLE or opts.bootstrap_servers is None:
            raise HTTPException(404, f"no subscription {projection!r}; known: {SUBSCRIBABLE}")
        staff = access.sees_all_referrals(actor)
        if not staff and projection != "referrals":
            raise HTTPException(403, f"{a_role(actor.role)} may not do this")
        try:
            subscriptions.decode_cursor(request.headers.get("last-event-id") or "")
        except ValueError as exc:
            if request.headers.get("last-event-id"):
                raise HTTPException(422, str(exc)) from None

        async def visible(change: dict[str, Any]) -> dict[str, Any] | None:
            values = change.get("values") or {}
            key = change.get("key") or {}
            if pathway is not None and values.get("pathway") not in (None, pathway.value):
                return None
            if projection == "caseloads" and actor.role is Role.CASE_MANAGER:
                manager = values.get("case_manager", key.get("case_manager"))
                if manager != actor.principal:
                    return None
            if projection == "referrals" and not staff:
                if values.get("referrer_principal") != actor.principal:
                    return None
                view = await asyncio.to_thread(
                    referral_answer,
                    actor,
                    referral_queries.row_to_referral(values),
                    "sse:/v1/subscriptions/referrals",
                )
                return {**change, "values": view}
            person = values.get("person_id")
            if person:
                await asyncio.to_thread(
                    record_staff_access,
                    actor,
                    [UUID(str(person))],
                    projection,
                    f"sse:/v1/subscriptions/{projection}",
                    f"{projection} subscription",
                )
            return change

        async def disconnected() -> bool:
            return await request.is_disconnected()

        return subscriptions.sse_response(
            subscriptions.stream_changes(
                bootstrap_servers=opts.bootstrap_servers,
                topic=projection_topic(projection),
                visible=visible,
                last_event_id=request.headers.get("last-event-id"),
                start="now" if start == "now" else "beginning",
                is_disconnected=disconnected,
            )
        )

    document_answers_of(api)
    return api


def _problem_answer(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "schema": schema}


RETRY_AFTER = {"Retry-After": _header("Seconds to wait before retrying", {"type": "integer"})}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": _header("The scheme to authenticate with: Bearer", {"type": "string"})
}
REPLAYED = {
    "Idempotent-Replayed": _header(
        "`true` on the stored answer to an earlier request with the same Idempotency-Key",
        {"type": "string", "enum": ["true"]},
    )
}

BODY_REFUSALS = {
    "400": _problem_answer("The body is not UTF-8, or Content-Length is malformed"),
    "413": _problem_answer("The body is larger than the API accepts"),
    "415": _problem_answer("The body is not JSON (application/json)"),
}
"""What `services.limits.BodyLimits` answers before the app reads a body."""


def document_answers(document: dict[str, Any]) -> dict[str, Any]:
    """Amend an OpenAPI document, in place, with what the routes alone do not say.

    A public endpoint (`services.access`) takes no token, so it never answers 401 or
    403; every other one may answer 401 (with `WWW-Authenticate`) and, after repeated
    failed authentication from the caller's address, 429 (`Retry-After`). A body may
    be refused before it is read (400, 413, 415: `services.limits`); a read at a
    `min_position` the view has not reached in time answers 503 (`Retry-After`), as
    `/readyz` does when not ready; a POST with an Idempotency-Key may be a replayed
    answer (`Idempotent-Replayed`). Reads never answer 409.
    """
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            rule = access.rule_for(method, path)
            if rule is not None and rule.public:
                operation["security"] = []
                for status in ("401", "403"):
                    responses.pop(status, None)
            else:
                if "401" in responses:
                    responses["401"].setdefault("headers", {}).update(WWW_AUTHENTICATE)
                responses.setdefault(
                    "429",
                    _problem_answer("Too many failed authentications from here", RETRY_AFTER),
                )
            parameters = {p.get("name") for p in operation.get("parameters", [])}
            if "requestBody" in operation:
                for status, answer in BODY_REFUSALS.items():
                    responses.setdefault(status, copy.deepcopy(answer))
            if "min_position" in parameters:
                responses.setdefault(
                    "503",
                    _problem_answer("The view has not reached min_position yet", RETRY_AFTER),
                )
            if "Idempotency-Key" in parameters:
                for answer in responses.values():
                    answer.setdefault("headers", {}).update(REPLAYED)
            if method.lower() == "get":
                responses.pop("409", None)
            for answer in responses.values():  # a route's `dict` beside the model it is
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if ("$ref" in schema or "anyOf" in schema) and schema.get("type") == "object":
                    for inferred in ("type", "additionalProperties", "title"):
                        schema.pop(inferred, None)
    ready = document.get("paths", {}).get("/readyz", {}).get("get")
    if ready is not None:
        answers = ready["responses"]
        answers["503"] = {**copy.deepcopy(answers["200"]), "description": "Not ready"}
    return document


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 naming in `Allow` every method the path takes (Starlette names one route's)."""
    assert isinstance(exc, StarletteHTTPException)
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL:
            allowed |= set(getattr(route, "methods", None) or ())
    shown = ", ".join(sorted(allowed))
    return problem_response(
        request,
        405,
        f"{request.method} is not allowed here; allowed: {shown or 'none'}",
        headers={"Allow": shown},
    )


def document_answers_of(api: FastAPI) -> None:
    """`document_answers` on `api`'s document when it is made (routes added later too)."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = document_answers(generate())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def participant_steps(
    app: LeadApplication,
) -> list[tuple[str, type[c.Command], Callable[[UUID, Any, Actor], Receipt], str]]:
    """Participant commands, addressed by the person's id."""
    base = "/v1/participants/{id}"
    update = app.update_participant
    return [
        (
            f"{base}/case-manager",
            c.AssignCaseManager,
            app.assign_case_manager,
            "Assign or reassign the case manager",
        ),
        (f"{base}/goals", c.SetGoal, update, "Set a goal (the participant's)"),
        (f"{base}/goals/progress", c.RecordGoalProgress, update, "Record progress on a goal"),
        (f"{base}/goals/revision", c.ReviseGoal, update, "Revise a goal"),
        (f"{base}/contacts", c.RecordContact, update, "Record a contact"),
        (
            f"{base}/living-situation",
            c.RecordLivingSituation,
            update,
            "Record the living situation",
        ),
        (f"{base}/income", c.RecordIncome, update, "Record income"),
        (f"{base}/status", c.ChangeStatus, update, "Change engagement status"),
        (f"{base}/exit", c.ExitParticipant, app.exit_participant, "Record an exit"),
        (
            f"{base}/reengage",
            c.ReengageParticipant,
            app.reengage_participant,
            "Record re-engagement",
        ),
        (
            f"{base}/progress-summaries",
            c.ShareProgressSummary,
            app.share_progress_summary,
            "Share a progress summary with a partner (consent-checked)",
        ),
    ]


__all__ = ["ApiOptions", "create_api"]
