"""The case record of one participant, and the list of every disclosure of it, for the
people who work with them."""

import csv
import io
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response

from projections import audit as audit_queries
from services import reads
from services.http import answers
from services.http.openapi import PARTICIPANTS
from services.http.pagination import DEFAULT_LIMIT
from services.http.routers.context import ApiContext
from services.http.routers.params import (
    ActorDep,
    Cursor,
    Limit,
)


def add_routes(router: APIRouter, ctx: ApiContext) -> None:
    """GET /v1/participants/{person_id} and its /disclosures."""
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

    @router.get(
        "/v1/participants/{person_id}/disclosures",
        operation_id="listParticipantDisclosures",
        tags=[PARTICIPANTS],
        summary="Every disclosure of the person's records, for the person (42 CFR 2.24)",
        responses={
            200: {
                "model": answers.Disclosures,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
    )
    def participant_disclosures(
        person_id: UUID,
        actor: ActorDep,
        format: Literal["json", "csv"] = "json",
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Any:
        """Who received what kind of information about the person, when, through which
        endpoint or topic, and under which consent (or on which basis), from the
        disclosure records of `lead.audit.v1`: for the case manager or project manager
        to give the person on request. `format=csv`: all of them, one row each."""
        works_with(person_id, actor, read="api:/v1/participants/{person_id}/disclosures")
        record_staff_access(
            actor,
            [person_id],
            "disclosure_list",
            "api:/v1/participants/{person_id}/disclosures",
            "the list of disclosures of the person's records",
        )
        if format == "csv":
            rows = ctx.read(audit_queries.disclosures_of, person_id=person_id)
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=audit_queries.DISCLOSURE_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
            return Response(
                out.getvalue(),
                media_type="text/csv; charset=utf-8",
                headers={
                    "content-disposition": f'attachment; filename="disclosures-{person_id}.csv"'
                },
            )
        return ctx.keyset(
            audit_queries.disclosures_of,
            lambda r: (r["decided_at"], r["disclosure_id"]),
            2,
            cursor,
            limit,
            person_id=person_id,
        )
