"""The composition root takes each adapter as a parameter: given in-memory ones, the use
cases run through the same wiring with no PostgreSQL and no Kafka (nothing listens on the
ports the settings name, so any connection attempt would fail the test)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from events.base import SEALED
from events.privacy import ErasureGround
from infra.crypto.sealing import MemoryKeyStore
from infra.settings import Settings
from projections.referrals import ReferralsProjection
from services import commands as c
from services.application import LeadApplication
from services.bootstrap import Container
from services.privacy import Privacy
from tests.factories import IN_MEMORY, OFFICER, POLICY_TERMS, referral_body


def first_name(app: LeadApplication, referral_id: UUID) -> str:
    received = next(iter(app.repository.event_store.get(referral_id)))
    return str(received.person.given_name)  # type: ignore[attr-defined]


def test_the_use_cases_run_on_the_in_memory_adapters_given_to_the_container(
    tmp_path: Path,
) -> None:
    nothing_listens = Settings(data_dir=tmp_path, pg_port=1, kafka_port=2, kafka_controller_port=3)
    keys = MemoryKeyStore()
    disclosed: list[object] = []
    container = Container(
        nothing_listens,
        event_store_env=IN_MEMORY,
        keys=keys,
        record_disclosures=disclosed.extend,
        projections=[ReferralsProjection()],
    )
    assert container.keys is keys
    assert [p.name for p in container.projections] == ["referrals"]
    app = container.application
    app.adopt_policy(c.AdoptPolicy(terms=POLICY_TERMS), OFFICER)
    body = referral_body(n=7)
    receipt = app.receive_referral(c.ReceiveReferral.model_validate(body), OFFICER)
    assert receipt.person_id is not None

    # The application seals with the given key store: the stored bytes hold no name.
    name = body["person"]["given_name"].encode()
    stored = [n.state for n in app.recorder.select_notifications(start=1, limit=100)]
    assert len(stored) == 3 and not any(name in s for s in stored)  # policy, received, screened
    assert keys.get(receipt.person_id) is not None
    assert first_name(app, receipt.id) == body["person"]["given_name"]

    # Forgetting the person destroys their key in that same store: the name is gone.
    Privacy(app, container.keys).forget(
        receipt.person_id, actor=OFFICER, reason="erasure request", ground=ErasureGround.REQUEST
    )
    assert keys.get(receipt.person_id) is None
    assert first_name(app, receipt.id) == SEALED

    # Disclosure records go where the container was told.
    container.audit_recorder()(["a record"])  # type: ignore[list-item]
    assert disclosed == ["a record"]
