"""A realistic slice of a LEAD site's life, driven through the application service.

It exercises every use case (and so records every event type): the policy adopted
and amended, referrals on the three pathways (one excluded, one declined, one
lapsed, one withdrawn, one enrolled), a participant's goals, contacts, housing,
income, status, exit and re-engagement, consents granted, revoked and expired, a
pre-existing case and a post-enrollment filing whose incident predates enrollment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from events.access import KafkaClientKind
from events.base import Actor, Role
from events.case import Charge, ChargingDecision, Disposition, Severity
from events.consent import InformationKind, Recipient, RecipientKind, SignatureMethod
from events.participant import (
    ContactKind,
    EngagementStatus,
    ExitReason,
    GoalDomain,
    GoalStatus,
    IncomeSource,
)
from events.policy import VerificationSource
from events.privacy import ErasureGround
from events.referral import Incident, Pathway, Person, Referrer, ScreeningFacts, WithdrawalKind
from infra.crypto.master_keys import MemoryKeyRing, fingerprint, new_key
from infra.crypto.sealing import MemoryKeyStore, WrappedMemoryKeyStore
from infra.settings import Settings
from services import commands as c
from services.application import LeadApplication, Receipt
from services.kafka_clients import Broker, KafkaClients
from services.keys import MasterKeyAdmin
from services.principals import Principals
from services.privacy import Privacy
from tests.factories import POLICY_TERMS

OFFICER = Actor(principal="officer.reyes", role=Role.OFFICER, organisation="Seattle PD")
PM = Actor(principal="pm.kim", role=Role.PROJECT_MANAGER, organisation="LEAD PDA")
CM = Actor(principal="cm.ortiz", role=Role.CASE_MANAGER, organisation="REACH")
LIAISON = Actor(
    principal="dpa.nguyen", role=Role.LIAISON_PROSECUTOR, organisation="King County Prosecutor"
)
OUTREACH = Actor(
    principal="outreach.lee",
    role=Role.COMMUNITY_PARTNER,
    organisation="Belltown Business Association",
)
ADMIN = Actor(principal="admin.pcg", role=Role.ADMINISTRATOR, organisation="LEAD PCG")


@dataclass
class Site:
    """The ids a scenario produced, for the checks that follow it."""

    enrolled_person: UUID | None = None
    consent: UUID | None = None
    prosecutor_consent: UUID | None = None
    cases: dict[str, UUID] = field(default_factory=dict)
    referrals: dict[str, UUID] = field(default_factory=dict)
    receipts: list[Receipt] = field(default_factory=list)
    enrolled_on: date | None = None
    forgotten_person: UUID | None = None


def referral(
    pathway: Pathway,
    n: int,
    *,
    days_ago: int,
    offense: str = "69.50.4013",
    facts: ScreeningFacts | None = None,
    org: str = "Seattle PD",
) -> c.ReceiveReferral:
    return c.ReceiveReferral(
        pathway=pathway,
        referrer=Referrer(principal="officer.reyes", organisation=org),
        incident=Incident(offense_code=offense, description="the incident", place="2nd & Bell"),
        person=Person(
            given_name=f"Person{n}",
            family_name="Example",
            birth_date=date(1979, 1, n % 28 + 1),
            race="black",
            ethnicity="not_hispanic_latino",
            gender="woman",
        ),
        facts=facts or ScreeningFacts(),
        occurred_at=datetime.now(UTC) - timedelta(days=days_ago),
    )


def run(app: LeadApplication) -> Site:
    site = Site()
    keep = site.receipts.append
    now = datetime.now(UTC)
    today = now.date()

    # Who may use the API: registered, a token replaced, one revoked.
    principals = Principals(app)
    principals.add(actor=ADMIN, name="officer.reyes", role=Role.OFFICER, organisation="SPD")
    principals.add(actor=ADMIN, name="cm.temp", role=Role.CASE_MANAGER, organisation="REACH")
    principals.rotate(actor=ADMIN, name="officer.reyes")
    principals.revoke(actor=ADMIN, name="cm.temp", reason="contract ended")
    # An external system's Kafka credential, granted then revoked (no broker here).
    kafka = KafkaClients(app, Settings(), Broker(grant=lambda *_: None, revoke=lambda *_: None))
    kafka.add(
        actor=ADMIN, name="county-prosecutor", kind=KafkaClientKind.PROSECUTION, organisation="PAO"
    )
    kafka.revoke(actor=ADMIN, name="county-prosecutor", reason="contract ended")

    keep(app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), ADMIN))
    amended = POLICY_TERMS.model_copy(
        update={"effective_from": date(2021, 1, 1), "intake_deadline_days": 14}
    )
    keep(app.adopt_policy(c.AdoptPolicy(terms=amended), ADMIN))

    # An arrest diversion that goes the whole way to enrollment.
    r = app.receive_referral(referral(Pathway.ARREST_DIVERSION, 1, days_ago=3), OFFICER)
    keep(r)
    site.referrals["enrolled"] = r.id
    person = r.person_id
    assert person is not None
    site.enrolled_person = person
    keep(app.approve_referral(r.id, c.ApproveReferral(), PM))
    keep(
        app.complete_warm_handoff(
            r.id,
            c.CompleteWarmHandoff(
                case_manager=CM.principal,
                arrived_at=now - timedelta(days=3) + timedelta(minutes=25),
            ),
            OFFICER,
        )
    )
    keep(
        app.schedule_intake(
            r.id,
            c.ScheduleIntake(scheduled_for=now - timedelta(days=2), case_manager=CM.principal),
            CM,
        )
    )
    consent = app.grant_consent(
        c.GrantConsent(
            person_id=person,
            disclosing_party="REACH case management",
            recipients=(Recipient(kind=RecipientKind.ROLE, name="liaison_prosecutor"),),
            purpose="coordinate pending cases with the liaison prosecutor",
            information_kinds=(
                InformationKind.LEGAL_STATUS,
                InformationKind.PROGRAM_STATUS,
                InformationKind.PROGRESS_SUMMARY,
            ),
            signature_method=SignatureMethod.E_SIGNATURE,
            signed_at=now - timedelta(days=2),
            expires_at=now + timedelta(days=365),
        ),
        CM,
    )
    keep(consent)
    site.prosecutor_consent = consent.id
    enrolled = app.complete_intake(
        r.id,
        c.CompleteIntake(
            completed_on=today - timedelta(days=2), case_manager=CM.principal, consent_id=consent.id
        ),
        CM,
    )
    keep(enrolled)
    site.enrolled_on = today - timedelta(days=2)

    # The participant's own goals, contacts and circumstances.
    goal = app.update_participant(
        person, c.SetGoal(text="get an ID card", domain=GoalDomain.LEGAL), CM
    )
    keep(goal)
    [goal_id] = list(app.participant(person).goals)
    keep(
        app.update_participant(
            person, c.RecordGoalProgress(goal_id=goal_id, note="birth certificate ordered"), CM
        )
    )
    keep(
        app.update_participant(
            person, c.ReviseGoal(goal_id=goal_id, status=GoalStatus.ACHIEVED), CM
        )
    )
    for days in (2, 1):
        keep(
            app.update_participant(
                person,
                c.RecordContact(
                    kind=ContactKind.STREET_OUTREACH,
                    contacted_on=now - timedelta(days=days),
                    minutes=40,
                    place="Belltown",
                    notes="talked about shelter options; uses at night",
                ),
                CM,
            )
        )
    keep(
        app.update_participant(
            person, c.RecordLivingSituation(as_of=today - timedelta(days=2), situation=116), CM
        )
    )
    keep(app.update_participant(person, c.RecordLivingSituation(as_of=today, situation=410), CM))
    keep(
        app.update_participant(person, c.RecordIncome(as_of=today, sources=(IncomeSource.SSI,)), CM)
    )
    keep(
        app.assign_case_manager(
            person, c.AssignCaseManager(case_manager="cm.baker", reason="caseload balance"), PM
        )
    )
    keep(
        app.share_progress_summary(
            person,
            c.ShareProgressSummary(
                recipient_organisation="King County Prosecutor",
                recipient_role=Role.LIAISON_PROSECUTOR,
                summary="Engaged weekly; housing secured.",
            ),
            CM,
        )
    )
    keep(
        app.update_participant(
            person,
            c.ChangeStatus(status=EngagementStatus.INACTIVE, reason="no contact for two weeks"),
            CM,
        )
    )
    keep(
        app.exit_participant(
            person, c.ExitParticipant(exited_on=today, reason=ExitReason.MOVED_AWAY), CM
        )
    )
    keep(app.reengage_participant(person, c.ReengageParticipant(reengaged_on=today), CM))

    # Cases: pre-existing, and a post-enrollment filing for an incident before enrollment.
    charge = Charge(
        statute_code="9A.56.050", description="theft 3", severity=Severity.GROSS_MISDEMEANOR
    )
    old = app.open_case(
        c.OpenCase(
            person_id=person,
            case_number="24-1-00001-1",
            court="King County District Court",
            jurisdiction="King County",
            incident_date=today - timedelta(days=200),
            filing_date=today - timedelta(days=190),
            charges=(charge,),
        ),
        LIAISON,
    )
    keep(old)
    site.cases["pre_existing"] = old.id
    keep(
        app.update_case(
            old.id,
            c.IssueWarrant(
                warrant_id="W-1",
                issued_on=today - timedelta(days=100),
                court="King County District Court",
            ),
            LIAISON,
        )
    )
    keep(app.update_case(old.id, c.QuashWarrant(warrant_id="W-1", quashed_on=today), LIAISON))
    keep(
        app.update_case(
            old.id,
            c.RecordLiaisonRecommendation(
                recommendation="dismiss on LEAD engagement", recommended_on=today
            ),
            LIAISON,
        )
    )
    keep(
        app.update_case(
            old.id,
            c.ScheduleHearing(hearing_at=now + timedelta(days=14), kind="review", court="KCDC"),
            LIAISON,
        )
    )
    keep(
        app.update_case(
            old.id,
            c.RecordDisposition(disposition=Disposition.DISMISSED, disposed_on=today),
            LIAISON,
        )
    )
    new = app.open_case(
        c.OpenCase(
            person_id=person,
            case_number="26-1-00002-2",
            court="King County Superior Court",
            jurisdiction="King County",
            incident_date=today - timedelta(days=30),
            charges=(charge,),
        ),
        LIAISON,
    )
    keep(new)
    site.cases["post_enrollment"] = new.id
    keep(
        app.update_case(
            new.id,
            c.RecordChargingDecision(
                decision=ChargingDecision.FILED, decided_on=today, filing_date=today
            ),
            LIAISON,
        )
    )

    # Consents: another one, revoked; and one that expired by its event.
    extra = app.grant_consent(
        c.GrantConsent(
            person_id=person,
            disclosing_party="REACH case management",
            recipients=(Recipient(kind=RecipientKind.ORGANISATION, name="Harborview Clinic"),),
            purpose="care coordination",
            information_kinds=(InformationKind.HEALTH,),
            signature_method=SignatureMethod.PAPER,
            signed_at=now - timedelta(days=1),
            expiration_event="discharge from the clinic",
        ),
        CM,
    )
    keep(extra)
    site.consent = extra.id
    keep(
        app.expire_consent(
            extra.id, c.ExpireConsent(expired_at=now, by_event="discharge from the clinic"), CM
        )
    )
    keep(
        app.revoke_consent(
            consent.id,
            c.RevokeConsent(effective_at=now + timedelta(days=30), reason="participant's wish"),
            CM,
        )
    )

    # The other pathways and outcomes.
    sc = app.receive_referral(
        referral(
            Pathway.SOCIAL_CONTACT,
            2,
            days_ago=1,
            facts=ScreeningFacts(
                prior_contact_verified_by=VerificationSource.OFFICER_OBSERVATION,
                prior_contact_on=today - timedelta(days=60),
                program_area="Belltown",
            ),
        ),
        OFFICER,
    )
    keep(sc)
    site.referrals["declined"] = sc.id
    keep(app.decline_referral(sc.id, c.DeclineReferral(reason="already in another program"), PM))
    excluded = app.receive_referral(
        referral(
            Pathway.COMMUNITY,
            3,
            days_ago=1,
            facts=ScreeningFacts(protection_order_naming_participant=True),
            org="Belltown Business Association",
        ),
        OUTREACH,
    )
    keep(excluded)
    site.referrals["excluded"] = excluded.id
    lapsing = app.receive_referral(referral(Pathway.ARREST_DIVERSION, 4, days_ago=20), OFFICER)
    keep(lapsing)
    site.referrals["lapsed"] = lapsing.id
    keep(app.approve_referral(lapsing.id, c.ApproveReferral(), PM))
    keep(app.lapse_referral(lapsing.id, c.LapseReferral(), PM))
    withdrawn = app.receive_referral(referral(Pathway.ARREST_DIVERSION, 5, days_ago=1), OFFICER)
    keep(withdrawn)
    site.referrals["withdrawn"] = withdrawn.id
    keep(
        app.withdraw_referral(
            withdrawn.id, c.WithdrawReferral(kind=WithdrawalKind.DECLINED), OFFICER
        )
    )
    # The person who declined asks to be forgotten.
    assert withdrawn.person_id is not None
    site.forgotten_person = withdrawn.person_id
    Privacy(app, MemoryKeyStore()).forget(
        withdrawn.person_id,
        actor=ADMIN,
        reason="asked to be forgotten",
        ground=ErasureGround.REQUEST,
    )
    # The site rotates its master key and retires the old one.
    first = new_key()
    ring = MemoryKeyRing({fingerprint(first): first}, fingerprint(first))
    keys = WrappedMemoryKeyStore(ring)
    keys.get_or_create(withdrawn.person_id)
    admin = MasterKeyAdmin(app, ring, keys)
    admin.rotate(actor=ADMIN, new_key=new_key(), settle_seconds=0)
    admin.retire(actor=ADMIN, key_id=fingerprint(first), reason="rotated out")
    return site
