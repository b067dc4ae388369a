"""The parameters and answer many routes share: the caller, the store position to read at,
paging, the Idempotency-Key, a time in a query, and the receipt of a write.

(No `from __future__ import annotations` in the router modules: FastAPI reads these
from the annotations of the endpoint functions.)
"""

import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, HTTPException, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from events.base import Actor
from events.text import Text
from services.application import Receipt
from services.http.idempotency import MAX_KEY
from services.http.pagination import CURSOR_PATTERN, MAX_CURSOR, MAX_LIMIT


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
    str | None,  # not Text: CURSOR_PATTERN is stricter
    Query(
        max_length=MAX_CURSOR,
        pattern=CURSOR_PATTERN,
        description="The next_cursor of the previous page, as it was given (URL-safe "
        "base64); leave it out for the first page",
    ),
]
Name = Annotated[Text, Path(min_length=1, max_length=200)]
"""A principal's or case manager's name in a path."""


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


def optional_idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_KEY,
            pattern=KEY_PATTERN,
            description="Optional: a retry with the same key gets the first answer",
        ),
    ] = None,
) -> None:
    """Declares the header on a POST that records nothing; `IdempotencyMiddleware` acts on
    it all the same (it keeps and replays the answer of every POST that has one)."""


MAY_REPLAY = [Depends(optional_idempotency_key)]
"""For a POST that records nothing (a question asked by POST): the key is optional."""
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise PydanticCustomError("datetime_type", "Input should be a date and time, not a number")
    return value


QueryTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
"""A time in a query: ISO 8601 with its offset, as documented (pydantic alone reads a number
as seconds since 1970, and a time without an offset as one in no zone)."""
