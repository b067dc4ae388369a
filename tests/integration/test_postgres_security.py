"""PostgreSQL's side of the privacy boundary, against the real server the tests start."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from infra.bootstrap import Container
from infra.sealing import PersonSealer
from infra.settings import Settings, dsn_params
from services.application import LeadApplication
from services.commands import ReceiveReferral
from tests.factories import OFFICER, referral_body

pytestmark = pytest.mark.integration

HARD_PASSWORD = "p%40ss@w:rd/ with 'quote\" and ünïcødé ✓%"


def with_user(dsn: str, user: str, password: str) -> str:
    """`dsn` with another user and password, percent-encoded as a URL needs them."""
    params = dsn_params(dsn)
    params.update(user=user, password=password)
    rest = "&".join(
        f"{k}={quote(v, safe='')}"
        for k, v in params.items()
        if k not in {"host", "port", "dbname", "user", "password"}
    )
    url = (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{params['host']}:{params['port']}/{params['dbname']}"
    )
    return f"{url}?{rest}" if rest else url


def test_a_password_with_any_characters_works_for_the_event_store(settings: Settings) -> None:
    """A percent-encoded password in the URL is decoded for every connection, the event
    store's included: a referral is recorded and read back through the store."""
    role = f"hard_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(role),
                sql.Literal(HARD_PASSWORD),
                sql.Identifier(dsn_params(settings.dsn)["user"]),
            )
        )
    try:
        dsn = with_user(settings.dsn, role, HARD_PASSWORD)
        assert "%25" in dsn and "%40" in dsn  # the URL carries it encoded
        hard = settings.model_copy(update={"database_url": dsn})
        env = hard.eventsourcing_env()
        assert env["POSTGRES_PASSWORD"] == HARD_PASSWORD
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        app = LeadApplication(env=env, sealer=PersonSealer(Container(hard).keys))
        try:
            receipt = app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
            assert app.repository.get(receipt.id).version == receipt.version
        finally:
            app.close()
    finally:
        with psycopg.connect(settings.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
