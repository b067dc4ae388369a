"""The case record of one participant, for the people who work with them."""

from typing import Any
from uuid import UUID

from fastapi import APIRouter

from services import reads
from services.http import answers
from services.http.openapi import PARTICIPANTS
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    ActorDep,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/participants/{person_id}."""
    app = ctx.application
    record_staff_access = ctx.record_staff_access
    works_with = ctx.works_with

    @router.get(
        "/v1/participants/{person_id}",
        operation_id="getParticipantRecord",
        tags=[PARTICIPANTS],
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
