"""The site policy: adopt a version, read every version."""

from typing import Any

from fastapi import APIRouter

from services import commands as c
from services.http import answers
from services.http.openapi import POLICY
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    RECORDS,
    ActorDep,
    ReceiptOut,
    out,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """POST and GET /v1/policy."""
    app = ctx.application

    @router.post(
        "/v1/policy",
        operation_id="adoptPolicy",
        tags=[POLICY],
        status_code=201,
        response_model=ReceiptOut,
        summary="Adopt policy",
        dependencies=RECORDS,
    )
    def adopt_policy(command: c.AdoptPolicy, actor: ActorDep) -> ReceiptOut:
        return out(app.adopt_policy(command, actor))

    @router.get(
        "/v1/policy",
        operation_id="listPolicyVersions",
        tags=[POLICY],
        summary="Every version of the site policy",
        responses={200: {"model": answers.PolicyVersions}},
    )
    def read_policy() -> dict[str, Any]:
        policy = app.get_policy()
        return {
            "versions": [{"version": v, **t.model_dump(mode="json")} for v, t in policy.versions]
        }
