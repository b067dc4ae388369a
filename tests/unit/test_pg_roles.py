"""The PostgreSQL roles' privileges, as the code grants them and the docs show them."""

from __future__ import annotations

import pytest

from infra.postgres.roles import APP, APPEND_ONLY, AUDITOR, GRANTS, READ
from infra.settings import PROJECT_ROOT
from services.contracts.security_tables import with_current_table


def test_the_security_docs_show_the_grants_the_code_makes() -> None:
    doc = (PROJECT_ROOT / "docs" / "security.md").read_text()
    assert doc == with_current_table(doc), "docs/security.md is stale: run `lead docs`"


def test_no_role_but_the_owner_may_change_or_remove_events_or_the_chain() -> None:
    for role in (APP, READ, AUDITOR):
        for table in APPEND_ONLY:
            assert not {"UPDATE", "DELETE", "TRUNCATE"} & set(GRANTS[role].get(table, ()))
    assert all(set(p) == {"SELECT"} for p in GRANTS[AUDITOR].values())
    assert "person_keys" not in GRANTS[AUDITOR]
    assert {t for t, p in GRANTS[READ].items() if set(p) - {"SELECT"}} == {
        "projection_positions",
        "consumer_errors",
        "consumer_stuck",
        "rebuild_progress",
        "{projections}",
    }


def test_a_document_without_the_markers_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="no <!-- postgres-grants"):
        with_current_table("# Security\n")
