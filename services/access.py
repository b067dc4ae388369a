"""Who may call what: the authorisation matrix, in one place, enforced for every route.

Each route is listed with the roles that may call it and, where a role may only reach
part of it, the scope that narrows it (enforced where the record is at hand, by the
`scope` functions below). A route missing from the matrix is refused to everyone, and
a test checks that every route is listed. `docs/access.md` is generated from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from events.base import Actor, Role

OFF = Role.OFFICER
CP = Role.COMMUNITY_PARTNER
CM = Role.CASE_MANAGER
PM = Role.PROJECT_MANAGER
LP = Role.LIAISON_PROSECUTOR
PD = Role.PUBLIC_DEFENDER
EV = Role.EVALUATOR
AU = Role.AUDITOR
AD = Role.ADMINISTRATOR

PEOPLE_ROLES: tuple[Role, ...] = (OFF, CP, CM, PM, LP, PD, EV, AU, AD)
"""Every role a principal can have (the system role is the backend's own)."""

OWN_REFERRALS = "only referrals they made, and only their status"
OWN_CASELOAD = "case managers: only their own caseload"
OWN_PARTICIPANTS = "case managers: only participants on their caseload"
CONSENTED = "only people whose consent covers the caller's organisation or role now"


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    scopes: dict[Role, str] = field(default_factory=dict)
    public: bool = False

    def allows(self, role: Role) -> bool:
        return self.public or role in self.roles


def rule(*roles: Role, **scopes: str) -> Rule:
    by_role = {Role(name.lower()): text for name, text in scopes.items()}
    return Rule(frozenset(roles), by_role)


PUBLIC = Rule(frozenset(), public=True)
EVERYONE = rule(*PEOPLE_ROLES)

PARTICIPANT_WORK = rule(CM, PM, CASE_MANAGER=OWN_PARTICIPANTS)
CASE_WORK = rule(LP)
REFERRAL_STEPS = rule(CM, PM)

MATRIX: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # principals and policy: administrators
    ("GET", "/v1/principals"): rule(AD),
    ("POST", "/v1/principals"): rule(AD),
    ("POST", "/v1/principals/{name}/rotate"): rule(AD),
    ("POST", "/v1/principals/{name}/revoke"): rule(AD),
    ("GET", "/v1/me"): EVERYONE,
    ("POST", "/v1/policy"): rule(AD),
    ("GET", "/v1/policy"): EVERYONE,
    # referrals
    ("POST", "/v1/referrals"): rule(
        OFF, CP, PM, OFFICER="as the referrer", COMMUNITY_PARTNER="as the referrer"
    ),
    ("GET", "/v1/referrals"): rule(
        OFF, CP, CM, PM, OFFICER=OWN_REFERRALS, COMMUNITY_PARTNER=OWN_REFERRALS
    ),
    ("GET", "/v1/referrals/{referral_id}"): rule(
        OFF, CP, CM, PM, OFFICER=OWN_REFERRALS, COMMUNITY_PARTNER=OWN_REFERRALS
    ),
    ("POST", "/v1/referrals/{id}/approve"): rule(PM, LP),
    ("POST", "/v1/referrals/{id}/decline"): rule(PM, LP),
    ("POST", "/v1/referrals/{id}/warm-handoff"): REFERRAL_STEPS,
    ("POST", "/v1/referrals/{id}/intake-schedule"): REFERRAL_STEPS,
    ("POST", "/v1/referrals/{id}/intake"): REFERRAL_STEPS,
    ("POST", "/v1/referrals/{id}/lapse"): rule(PM),
    ("POST", "/v1/referrals/{id}/withdraw"): REFERRAL_STEPS,
    # queue, agenda, caseloads: the program's own staff
    ("GET", "/v1/queue"): rule(CM, PM),
    ("GET", "/v1/owg-agenda"): rule(CM, PM),
    ("GET", "/v1/caseloads"): rule(CM, PM, CASE_MANAGER=OWN_CASELOAD),
    ("GET", "/v1/caseloads/{case_manager}"): rule(CM, PM, CASE_MANAGER=OWN_CASELOAD),
    # participants: their case managers and the project manager (who reassigns)
    ("GET", "/v1/participants/{person_id}"): PARTICIPANT_WORK,
    ("GET", "/v1/participants/{person_id}/disclosures"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/case-manager"): rule(PM),
    ("POST", "/v1/participants/{id}/goals"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/goals/progress"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/goals/revision"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/contacts"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/living-situation"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/income"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/status"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/exit"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/reengage"): PARTICIPANT_WORK,
    ("POST", "/v1/participants/{id}/progress-summaries"): PARTICIPANT_WORK,
    # consents: recorded by the program's staff
    ("POST", "/v1/consents"): rule(CM, PM),
    ("POST", "/v1/consents/{id}/revoke"): rule(CM, PM),
    ("POST", "/v1/consents/{id}/expire"): rule(CM, PM),
    ("POST", "/v1/disclosure-checks"): rule(CM, PM, AU),
    # the legal side: liaison prosecutors record; they and defenders read with consent
    ("POST", "/v1/cases"): CASE_WORK,
    ("POST", "/v1/cases/{id}/warrants"): CASE_WORK,
    ("POST", "/v1/cases/{id}/warrants/quash"): CASE_WORK,
    ("POST", "/v1/cases/{id}/charging-decisions"): CASE_WORK,
    ("POST", "/v1/cases/{id}/recommendations"): CASE_WORK,
    ("POST", "/v1/cases/{id}/hearings"): CASE_WORK,
    ("POST", "/v1/cases/{id}/disposition"): CASE_WORK,
    ("GET", "/v1/liaison/cases"): rule(
        LP, PD, LIAISON_PROSECUTOR=CONSENTED, PUBLIC_DEFENDER=CONSENTED
    ),
    ("GET", "/v1/liaison/cases/{person_id}"): rule(
        LP, PD, LIAISON_PROSECUTOR=CONSENTED, PUBLIC_DEFENDER=CONSENTED
    ),
    # evaluation: de-identified, small cells suppressed
    ("GET", "/v1/metrics/referrals-by-race-ethnicity"): rule(EV, PM),
    ("GET", "/v1/metrics/{name}"): rule(EV, PM),
    # accountability
    ("GET", "/v1/audit/trail"): rule(AU),
    # live subscriptions
    ("GET", "/v1/subscriptions/{projection}"): rule(
        OFF, CP, CM, PM, OFFICER=OWN_REFERRALS, COMMUNITY_PARTNER=OWN_REFERRALS
    ),
}


def rule_for(method: str, path: str) -> Rule | None:
    return MATRIX.get((method.upper(), path))


def sees_all_referrals(actor: Actor) -> bool:
    return actor.role in (CM, PM)


def own_referral(actor: Actor, referrer_principal: str | None) -> bool:
    """Officers and community partners see the referrals they made; staff see all."""
    return sees_all_referrals(actor) or referrer_principal == actor.principal


def works_with(actor: Actor, case_manager: str | None) -> bool:
    """Case managers work their own participants; the project manager supervises all."""
    return actor.role is PM or (actor.role is CM and case_manager == actor.principal)


def reads_caseload(actor: Actor, case_manager: str) -> bool:
    return actor.role is PM or (actor.role is CM and case_manager == actor.principal)


def contact_notes_visible(actor: Actor, case_manager: str | None) -> bool:
    """Contact notes: the participant's case manager and their supervisor, whatever consent."""
    return works_with(actor, case_manager)
