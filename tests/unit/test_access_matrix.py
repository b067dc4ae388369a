"""The authorisation matrix covers every route, and the published copy of it is current."""

from __future__ import annotations

from fastapi.routing import APIRoute

from infra.settings import PROJECT_ROOT
from services import access
from services.application import LeadApplication
from services.contracts import access_matrix
from services.http.api import create_api
from services.http.telemetry import Telemetry, install
from services.principals import Principals
from tests.factories import IN_MEMORY


def routes() -> set[tuple[str, str]]:
    app = LeadApplication(env=IN_MEMORY)
    api = create_api(app, read_pool=None, principals=Principals(app))  # type: ignore[arg-type]
    install(api, Telemetry())
    found = set()
    for route in api.routes:
        if isinstance(route, APIRoute):
            found |= {(m, route.path) for m in route.methods}
    return found


def test_every_route_has_a_rule_and_every_rule_a_route() -> None:
    found = routes()
    assert sorted(found - set(access.MATRIX)) == [], "routes nobody may call (missing rules)"
    assert sorted(set(access.MATRIX) - found) == [], "rules for routes that do not exist"


def test_administrators_manage_principals_and_policy_not_participants() -> None:
    admin = access.Role.ADMINISTRATOR
    for (_, path), rule in access.MATRIX.items():
        if rule.allows(admin) and not rule.public:
            assert path in ("/v1/me", "/v1/policy") or path.startswith("/v1/principals"), path


def test_evaluators_see_only_de_identified_metrics() -> None:
    for (_, path), rule in access.MATRIX.items():
        if rule.allows(access.Role.EVALUATOR) and not rule.public:
            assert path.startswith("/v1/metrics") or path in ("/v1/me", "/v1/policy"), path


def test_the_published_matrix_is_current() -> None:
    published = (PROJECT_ROOT / "docs" / "access.md").read_text()
    assert published == access_matrix.markdown(), "run `lead docs` to regenerate docs/access.md"
