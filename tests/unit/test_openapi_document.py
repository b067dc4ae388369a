"""What the OpenAPI document says beyond the routes (services.api.document_answers)."""

from __future__ import annotations

from typing import Any

import pytest

from services import access
from services.api import create_api
from services.application import LeadApplication
from services.principals import Principals
from tests.factories import IN_MEMORY


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    application = LeadApplication(env=IN_MEMORY)
    api = create_api(application, read_pool=None, principals=Principals(application))  # type: ignore[arg-type]  # no reads
    return api.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, ops in document["paths"].items()
        for method, operation in ops.items()
    ]


def test_public_endpoints_take_no_token_and_never_answer_401_or_403(
    document: dict[str, Any],
) -> None:
    public = [(m, p, o) for m, p, o in operations(document) if access.MATRIX[(m, p)].public]
    assert {p for _, p, _ in public} >= {"/healthz", "/readyz"}
    for _, _, operation in public:
        assert operation["security"] == []
        assert not {"401", "403"} & set(operation["responses"])


def test_every_other_endpoint_needs_a_bearer_token(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if not access.MATRIX[(method, path)].public:
            assert operation["security"] == [{"HTTPBearer": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
