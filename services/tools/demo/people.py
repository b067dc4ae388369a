"""The synthetic people and their referrals: who is referred, by whom, for what, with
the screening facts that make each referral eligible or excluded as planned."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

from events.base import Actor
from events.policy import (
    DivertibleOffense,
    PolicyTerms,
    VerificationSource,
)
from events.referral import Incident, Pathway, Person, Referrer, ScreeningFacts
from services import commands as c
from services.tools.demo.plan import Plan
from services.tools.demo.site import (
    DEMO_OFFENSES,
    ETHNICITIES,
    FAMILY_NAMES,
    GENDERS,
    GIVEN_NAMES,
    OFFICERS,
    OUTSIDE_AREAS,
    PARTNERS,
    PROGRAM_AREAS,
    RACES,
    STREET_PLACES,
    Outcome,
    weighted,
)


class SyntheticPeople:
    """The referrals of a `seed_site` run, drawn from its random numbers."""

    _rng: random.Random

    def _referral(self, plan: Plan, terms: PolicyTerms) -> tuple[c.ReceiveReferral, Actor]:
        rng = self._rng
        actor = rng.choice(PARTNERS if plan.pathway is Pathway.COMMUNITY else OFFICERS)
        offense = rng.choice(terms.divertible_offenses)
        pathway, facts = self._facts(plan, terms, offense)
        command = c.ReceiveReferral(
            pathway=pathway,
            referrer=Referrer(principal=actor.principal, organisation=actor.organisation),
            incident=Incident(
                offense_code=offense.statute_code,
                description=offense.description,
                nibrs_code=offense.nibrs_code,
                place=rng.choice(STREET_PLACES),
            ),
            person=self._person(plan.at.date(), terms),
            facts=facts,
            occurred_at=plan.at,
        )
        return command, actor

    def _person(self, day: date, terms: PolicyTerms) -> Person:
        """An adult a year clear of the policy's minimum age, so age never excludes."""
        rng = self._rng
        age = rng.randint(max(18, terms.exclusions.minimum_age) + 1, 66)
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        aliases = (f"{rng.choice(GIVEN_NAMES)} {family}",) if rng.random() < 0.15 else ()
        return Person(
            given_name=given,
            family_name=family,
            aliases=aliases,
            birth_date=day - timedelta(days=int(age * 365.25) + rng.randint(0, 300)),
            race=weighted(rng, RACES),
            ethnicity=weighted(rng, ETHNICITIES),
            gender=weighted(rng, GENDERS),
        )

    def _facts(
        self, plan: Plan, terms: PolicyTerms, offense: DivertibleOffense
    ) -> tuple[Pathway, ScreeningFacts]:
        if plan.outcome is Outcome.EXCLUDED:
            pathway, facts = self._excluding_facts(plan.pathway, terms, plan.at.date())
        else:
            pathway = plan.pathway
            facts = self._eligible_facts(plan.pathway, terms, plan.at.date(), offense)
        # Most people LEAD sees have had prior contact; community referrals less often.
        share = {Pathway.ARREST_DIVERSION: 0.8, Pathway.SOCIAL_CONTACT: 0.95}.get(pathway, 0.5)
        draw = self._rng.random()
        prior = None if draw > 0.95 else draw < share * 0.95
        return pathway, facts.model_copy(update={"prior_criminal_legal_contact": prior})

    def _eligible_facts(
        self, pathway: Pathway, terms: PolicyTerms, day: date, offense: DivertibleOffense
    ) -> ScreeningFacts:
        """Facts that pass every exclusion the policy has switched on."""
        rng = self._rng
        if pathway is Pathway.SOCIAL_CONTACT:
            criteria = terms.social_contact
            sources = criteria.verification_sources or tuple(VerificationSource)
            lookback_days = max(7, criteria.lookback_months * 30 - 31)
            return ScreeningFacts(
                prior_contact_verified_by=rng.choice(sources),
                prior_contact_on=day - timedelta(days=rng.randint(7, lookback_days)),
                program_area=rng.choice(criteria.program_areas or PROGRAM_AREAS),
            )
        limit = terms.exclusions.max_drug_grams
        drugs = offense.nibrs_code == "35A" or offense.statute_code.startswith("69.50")
        if pathway is Pathway.ARREST_DIVERSION and drugs:
            grams = rng.uniform(0.05, 0.9) * (limit or 3.0)
            return ScreeningFacts(drug_grams=math.floor(grams * 100) / 100)
        return ScreeningFacts()

    def _excluding_facts(
        self, pathway: Pathway, terms: PolicyTerms, day: date
    ) -> tuple[Pathway, ScreeningFacts]:
        """Facts that one of the policy's exclusions catches, as screening would in life."""
        rng = self._rng
        exclusions = terms.exclusions
        options: list[ScreeningFacts] = []
        if pathway is Pathway.ARREST_DIVERSION and exclusions.max_drug_grams is not None:
            grams = round(exclusions.max_drug_grams + rng.uniform(1, 12), 1)
            options.append(ScreeningFacts(drug_grams=grams))
        if exclusions.pending_specialty_court:
            options.append(ScreeningFacts(pending_specialty_court=True))
        if pathway is Pathway.COMMUNITY and exclusions.protection_order_naming_participant:
            options.append(ScreeningFacts(protection_order_naming_participant=True))
        if pathway is Pathway.SOCIAL_CONTACT:
            outside = [a for a in OUTSIDE_AREAS if a not in terms.social_contact.program_areas]
            if terms.social_contact.program_areas and outside:
                eligible = self._eligible_facts(pathway, terms, day, DEMO_OFFENSES[0])
                options.append(eligible.model_copy(update={"program_area": rng.choice(outside)}))
            options.append(ScreeningFacts())  # no verified prior low-level involvement
        if not options:  # the site switched off every exclusion that could apply here
            return Pathway.SOCIAL_CONTACT, ScreeningFacts()
        return pathway, rng.choice(options)
