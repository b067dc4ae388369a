"""Who the caller is, and the principals an administrator registers, rotates and revokes."""

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from events.access import PRINCIPAL_NAME
from events.base import Actor, Role
from events.text import Text
from services.http import answers
from services.http.openapi import PRINCIPALS
from services.http.pagination import DEFAULT_LIMIT
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    RECORDS,
    ActorDep,
    Cursor,
    Limit,
    Name,
)
from services.principals import Issued


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


def issued_token(issued: Issued) -> IssuedToken:
    return IssuedToken(
        id=issued.principal_id, name=issued.name, token=issued.token, expires_at=issued.expires_at
    )


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/me and /v1/principals[...]."""
    principals = ctx.principals
    paged = ctx.paged

    @router.get(
        "/v1/me",
        operation_id="getCaller",
        tags=[PRINCIPALS],
        summary="The caller as the API knows them",
    )
    def me(actor: ActorDep) -> Actor:
        return actor

    @router.get(
        "/v1/principals",
        operation_id="listPrincipals",
        tags=[PRINCIPALS],
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

    @router.post(
        "/v1/principals",
        operation_id="createPrincipal",
        tags=[PRINCIPALS],
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

    @router.post(
        "/v1/principals/{name}/rotate",
        operation_id="rotatePrincipalToken",
        tags=[PRINCIPALS],
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

    @router.post(
        "/v1/principals/{name}/revoke",
        operation_id="revokePrincipal",
        tags=[PRINCIPALS],
        summary="Revoke a principal's access at once",
        dependencies=RECORDS,
        responses={200: {"model": answers.RevokedPrincipal}},
    )
    def revoke_principal(name: Name, body: Revocation, actor: ActorDep) -> dict[str, Any]:
        view = principals.revoke(actor=actor, name=name, reason=body.reason)
        return {"name": view.name, "revoked_at": view.revoked_at}
