from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from aggregates.eligibility import age_on, months_between
from aggregates.policy import NoPolicyInForceError, PolicyDateError, SitePolicy
from events.policy import CaseloadLimits, PolicyTerms
from services import commands as c
from services.application import LeadApplication
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS


def test_the_policy_in_force_is_the_latest_version_whose_date_has_come() -> None:
    policy = SitePolicy.adopt(site_id="s", actor=OFFICER, terms=POLICY_TERMS)
    v2 = POLICY_TERMS.model_copy(
        update={"effective_from": date(2026, 7, 1), "intake_deadline_days": 30}
    )
    assert policy.amend(actor=OFFICER, terms=v2) == 2
    assert policy.in_force(date(2026, 6, 30))[0] == 1
    assert policy.in_force(date(2026, 7, 1)) == (2, v2)
    with pytest.raises(NoPolicyInForceError, match="first took effect on 2020-01-01"):
        policy.in_force(date(2019, 12, 31))


def test_a_new_version_cannot_take_effect_before_the_current_one() -> None:
    policy = SitePolicy.adopt(site_id="s", actor=OFFICER, terms=POLICY_TERMS)
    older = POLICY_TERMS.model_copy(update={"effective_from": date(2019, 1, 1)})
    with pytest.raises(PolicyDateError):
        policy.amend(actor=OFFICER, terms=older)


@pytest.mark.parametrize("days", [6, 31, 45])
def test_the_intake_deadline_is_7_to_30_days_never_more(days: int) -> None:
    data = POLICY_TERMS.model_dump()
    data["intake_deadline_days"] = days
    with pytest.raises(ValidationError, match="intake_deadline_days"):
        PolicyTerms.model_validate(data)


def test_caseload_limits_default_to_15_20_25_and_must_be_ordered() -> None:
    assert CaseloadLimits() == CaseloadLimits(target=15, warning=20, hard_cap=25)
    with pytest.raises(ValidationError, match="target <= warning <= hard_cap"):
        CaseloadLimits(target=15, warning=30, hard_cap=25)


def test_date_arithmetic_for_ages_and_look_backs() -> None:
    assert age_on(date(2008, 3, 2), date(2026, 3, 1)) == 17
    assert age_on(date(2008, 3, 2), date(2026, 3, 2)) == 18
    assert months_between(date(2024, 3, 2), date(2026, 3, 1)) == 23
    assert months_between(date(2024, 3, 2), date(2026, 3, 2)) == 24


def test_the_policy_is_kept_between_referrals_and_a_new_version_is_seen_at_once() -> None:
    app = LeadApplication(env=IN_MEMORY)
    app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    first = app.get_policy()
    assert app.get_policy() is first  # kept: not loaded again for every referral
    today = date.today()
    amended = POLICY_TERMS.model_copy(update={"effective_from": today, "intake_deadline_days": 21})
    # The amendment is stored as another process would store it: not through the kept one.
    app.adopt_policy(c.AdoptPolicy(terms=amended), OFFICER)
    version, terms = app.policy_in_force(today)
    assert (version, terms.intake_deadline_days) == (2, 21)
    assert app.get_policy() is not first
