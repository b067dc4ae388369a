"""A 422 whose text starts with the field it is about lists that field, as validation does."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from services.http.problems import install_problem_handlers


def answer(detail: str) -> dict[str, object]:
    api = FastAPI()
    install_problem_handlers(api)

    @api.get("/x")
    def refuse() -> None:
        raise HTTPException(422, detail)

    body: dict[str, object] = TestClient(api).get("/x").json()
    return body


def test_a_refusal_naming_its_field_lists_it() -> None:
    body = answer("body.referrer: must be you (officer.reyes of Seattle PD)")
    assert body["errors"] == [
        {"field": "body.referrer", "message": "must be you (officer.reyes of Seattle PD)"}
    ]
    body = answer("query parameter cursor: not a cursor from this API")
    assert body["errors"] == [
        {"field": "query parameter cursor", "message": "not a cursor from this API"}
    ]


def test_other_text_is_left_as_it_is() -> None:
    assert "errors" not in answer("since must be before until")
