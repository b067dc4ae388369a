"""Rebuilding a projection from offset 0, and as it stood at a past time."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from infra.readside.rebuild import Rebuilder
from projections.referrals import ReferralsProjection
from services.bootstrap import Container
from services.commands import ReceiveReferral
from tests.factories import OFFICER, referral_body
from tests.integration.test_relay import drain

pytestmark = pytest.mark.integration


def rows(dsn: str, schema: str, tag: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f"SELECT referral_id, status, version, position FROM {schema}.referrals "
            "WHERE referrer_organisation = %s ORDER BY referral_id",
            (tag,),
        ).fetchall()


def receive(container: Container, tag: str, n: int) -> list[uuid.UUID]:
    app = container.application
    return [
        app.receive_referral(
            ReceiveReferral.model_validate(referral_body(organisation=tag, n=i)), OFFICER
        ).id
        for i in range(n)
    ]


def rebuild(container: Container, as_of: datetime | None = None) -> Any:
    progress: list[tuple[int, int]] = []
    result = Rebuilder(
        dsn=container.settings.dsn,
        bootstrap_servers=container.settings.bootstrap_servers,
        projections=[ReferralsProjection()],
        as_of=as_of,
        progress=lambda done, total: progress.append((done, total)),
    ).run()
    assert progress and progress[-1][0] == progress[-1][1]  # it showed how far it was
    return result


def rebuild_metrics(container: Container) -> dict[str, float]:
    """The lead_rebuild_* samples of the read side's /metrics, by name and schema."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(container.process_metrics()).decode()
    return {
        f"{sample.name}:{sample.labels['schema']}": sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("lead_rebuild_")
        for sample in family.samples
    }


def test_a_rebuild_from_offset_zero_gives_every_row_and_is_repeatable(
    container: Container,
) -> None:
    tag = f"rebuild-{uuid.uuid4()}"
    ids = receive(container, tag, 25)
    drain(container)
    first = rebuild(container)
    assert first.schema == "proj_referrals"
    # Operators see how far it got, and that it is done, on /metrics.
    shown = rebuild_metrics(container)
    assert shown["lead_rebuild_progress_ratio:proj_referrals__next"] == 1.0
    assert shown["lead_rebuild_messages_remaining:proj_referrals__next"] == 0
    assert shown["lead_rebuild_running:proj_referrals__next"] == 0
    built = rows(container.settings.dsn, "proj_referrals", tag)
    assert sorted(r[0] for r in built) == sorted(ids)
    assert {r[1] for r in built} == {"eligible"} and {r[2] for r in built} == {2}
    rebuild(container)
    assert rows(container.settings.dsn, "proj_referrals", tag) == built


def test_as_of_builds_the_view_as_it_stood_then_beside_the_live_one(
    container: Container,
) -> None:
    tag = f"asof-{uuid.uuid4()}"
    early = receive(container, tag, 3)
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    receive(container, tag, 4)
    drain(container)
    result = rebuild(container, as_of=cut)
    assert result.schema.startswith("proj_referrals__asof_")
    assert result.after_as_of >= 8  # four referrals, two events each
    assert sorted(r[0] for r in rows(container.settings.dsn, result.schema, tag)) == sorted(early)
