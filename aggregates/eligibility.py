"""Screening a referral against a policy version: a pure function, every reason listed."""

from __future__ import annotations

from datetime import date

from events.policy import PolicyTerms
from events.referral import Pathway, Person, ScreeningFacts


def months_between(earlier: date, later: date) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (1 if later.day < earlier.day else 0)


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def screen(
    *,
    pathway: Pathway,
    offense_code: str,
    person: Person,
    facts: ScreeningFacts,
    terms: PolicyTerms,
    on: date,
) -> list[str]:
    """Every reason the referral is excluded; an empty list means eligible."""
    reasons: list[str] = []
    ex = terms.exclusions
    if pathway is Pathway.ARREST_DIVERSION and not terms.divertible(offense_code):
        reasons.append(f"offense {offense_code} is not a divertible offense under the policy")
    if (
        ex.max_drug_grams is not None
        and facts.drug_grams is not None
        and facts.drug_grams > ex.max_drug_grams
    ):
        reasons.append(
            f"drug quantity {facts.drug_grams:g} g is above the {ex.max_drug_grams:g} g threshold"
        )
    if ex.delivery_beyond_subsistence and facts.delivery_beyond_subsistence:
        reasons.append("delivery or possession with intent beyond subsistence")
    if ex.exploitation_of_minors and facts.exploitation_of_minors:
        reasons.append("exploitation of minors")
    if ex.promoting_prostitution and facts.promoting_prostitution:
        reasons.append("promoting prostitution")
    if person.birth_date is not None and age_on(person.birth_date, on) < ex.minimum_age:
        reasons.append(f"under {ex.minimum_age}")
    if (
        ex.disqualifying_history_years is not None
        and facts.last_violent_conviction_on
        and months_between(facts.last_violent_conviction_on, on)
        < ex.disqualifying_history_years * 12
    ):
        reasons.append(f"violent conviction within {ex.disqualifying_history_years} years")
    if ex.pending_specialty_court and facts.pending_specialty_court:
        reasons.append("pending drug-court or mental-health-court case")
    if ex.protection_order_naming_participant and facts.protection_order_naming_participant:
        reasons.append("protection order naming a current participant")
    if pathway is Pathway.SOCIAL_CONTACT:
        reasons.extend(_social_contact(facts, terms, on))
    return reasons


def _social_contact(facts: ScreeningFacts, terms: PolicyTerms, on: date) -> list[str]:
    criteria = terms.social_contact
    reasons = []
    if facts.prior_contact_verified_by is None or facts.prior_contact_on is None:
        reasons.append("social contact referral without verified prior low-level involvement")
    else:
        if facts.prior_contact_verified_by not in criteria.verification_sources:
            accepted = ", ".join(criteria.verification_sources)
            reasons.append(
                f"prior involvement verified by {facts.prior_contact_verified_by}, "
                f"which the policy does not accept (accepted: {accepted})"
            )
        if months_between(facts.prior_contact_on, on) >= criteria.lookback_months:
            reasons.append(
                f"prior involvement on {facts.prior_contact_on} is outside the "
                f"{criteria.lookback_months}-month look-back"
            )
    if criteria.program_areas and facts.program_area not in criteria.program_areas:
        areas = ", ".join(criteria.program_areas)
        reasons.append(f"outside the program area (accepted: {areas})")
    return reasons
