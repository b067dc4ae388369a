from __future__ import annotations

from pathlib import Path

import pytest

from services.policy_file import EXAMPLE_POLICY, PolicyFileError, load_policy


def test_the_example_policy_loads_with_its_settings() -> None:
    terms = load_policy(EXAMPLE_POLICY)
    assert terms.intake_deadline_days == 30
    assert terms.caseload.hard_cap == 25
    assert terms.divertible("69.50.4013")
    assert "Belltown" in terms.social_contact.program_areas


def test_a_bad_policy_file_names_each_field_and_what_is_accepted(tmp_path: Path) -> None:
    text = EXAMPLE_POLICY.read_text().replace(
        "intake_deadline_days: 30", "intake_deadline_days: 45"
    )
    text = text.replace("severity: felony", "severity: serious", 1)
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyFileError) as error:
        load_policy(path)
    message = str(error.value)
    assert "intake_deadline_days: Input should be less than or equal to 30 (got 45)" in message
    assert (
        "divertible_offenses.0.severity: Input should be 'felony', 'gross_misdemeanor' or "
        "'misdemeanor' (got 'serious')" in message
    )


def test_json_works_too_and_broken_syntax_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text("{not json")
    with pytest.raises(PolicyFileError, match="not valid json"):
        load_policy(path)
