"""Property-based requests generated from the OpenAPI document, with valid tokens: whatever
the input, the running API answers without a server error (no 5xx), and every 422 is a
problem naming what is wrong (each field, for validation problems).

Each operation is called with the token of a role the matrix allows, so the input
reaches validation and the handler, not just the 403. Left out, on purpose: adopting
site policy and managing principals (generated policies would change what every other
test on this shared stack is judged by), and the live subscriptions (a stream never
ends). Those have their own tests.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from services import access
from services.problems import PROBLEM_MEDIA_TYPE, VALIDATION
from tests.e2e.conftest import Backend
from tests.principals import ONE_PER_ROLE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_schema(backend: Backend) -> Any:
    return schemathesis.openapi.from_url(f"{backend.base_url}/openapi.json")


schema = (
    schemathesis.pytest.from_fixture("api_schema")
    .exclude(path="/v1/policy", method="POST")
    .exclude(path_regex="^/v1/principals")
    .exclude(path_regex="^/v1/subscriptions/")
)


def token_for(method: str, path: str, people: dict[str, dict[str, str]]) -> dict[str, str]:
    rule = access.rule_for(method, path)
    assert rule is not None, f"{method} {path} is not in the matrix"
    if rule.public:
        return {}
    role = next(r for r in access.PEOPLE_ROLES if rule.allows(r))
    return people[ONE_PER_ROLE[role]]


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


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_makes_the_api_fail(
    case: Any, backend: Backend, people: dict[str, dict[str, str]]
) -> None:
    headers = token_for(case.operation.method.upper(), case.operation.path, people)
    case.call_and_validate(
        headers=headers, checks=[not_a_server_error, rejections_name_the_field], timeout=60
    )
