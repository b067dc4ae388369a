"""The HTTP API's app factory: authentication on every route, the problem handlers, and
the routes of each area (`services.http.routers`), in the order they are matched.

Handlers only translate: build a command, call the service, shape the answer.

Every request but the public health endpoints carries a bearer token; `authorize`
(one place) authenticates it and checks the route against the matrix in
`services.access`. Handlers narrow what a role may reach (their own referrals, their
own caseload) and record every answer that carries participant-level data as a
disclosure on `lead.audit.v1` before it leaves.
"""

import contextlib
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from events.base import a_role
from events.disclosure import authentication_record
from events.envelope import CloudEvent
from services import access
from services.application import LeadApplication
from services.http.docs_ui import install_docs
from services.http.openapi import TAGS, api_version, document_answers_of, unnamed_operation
from services.http.problems import PROBLEM_RESPONSES, install_problem_handlers, problem_response
from services.http.routers import (
    agenda,
    audit,
    caseloads,
    cases,
    commands,
    consents,
    evaluation,
    health,
    liaison,
    participants,
    policy,
    queue,
    referrals,
    subscriptions,
)
from services.http.routers import (
    principals as principal_routes,
)
from services.http.routers.context import (
    ApiContext,
    ApiOptions,
    Readiness,
    ReadYourWrites,
    Record,
)
from services.http.strict_json import JsonBodyRoute
from services.http.throttle import FailureThrottle
from services.principals import (
    AuthenticationError,
    Principals,
    TokenExpiredError,
    parse_token,
)

AREAS = (
    health,
    principal_routes,
    policy,
    referrals,
    caseloads,
    participants,
    queue,
    agenda,
    audit,
    liaison,
    evaluation,
    commands,
    cases,
    consents,
    subscriptions,
)
"""The routers, in the order their routes are added: the order paths are matched in
(`/v1/metrics/referrals-by-race-ethnicity` before `/v1/metrics/{name}`) and listed in
the OpenAPI document."""


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

    ctx = ApiContext(
        application=app,
        read_pool=read_pool,
        principals=principals,
        opts=opts,
        record_disclosures=record_disclosures,
        read_your_writes=read_your_writes,
        readiness=readiness,
    )
    record = ctx.record

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
        version=api_version(),
        description=(
            "System of record for a LEAD site: referrals, contacts, cases, consents. "
            "Every request carries a bearer token (`lead principals add`); what each "
            "role may do is in docs/access.md. Errors are application/problem+json. "
            "POSTs accept an Idempotency-Key header."
        ),
        openapi_tags=TAGS,
        generate_unique_id_function=unnamed_operation,
        docs_url=None,  # served offline instead: services.http.docs_ui
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
        responses=PROBLEM_RESPONSES,
    )
    api.router.route_class = JsonBodyRoute
    install_problem_handlers(api)
    api.add_exception_handler(405, method_not_allowed)

    for area in AREAS:
        area.add_routes(api.router, ctx)
    install_docs(api)
    document_answers_of(api)
    return api


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


__all__ = ["create_api"]
