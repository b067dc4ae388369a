"""PostgreSQL's side of the privacy boundary, against the real server the tests start."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from infra.crypto.sealing import PersonSealer
from infra.kafka.relay import PostgresRelayPosition
from infra.postgres.roles import APP, AUDITOR, READ
from infra.settings import Settings, dsn_params
from services.application import LeadApplication
from services.bootstrap import Container
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


def test_a_password_with_any_characters_works_for_the_event_store(
    settings: Settings, tmp_path: Path
) -> None:
    """A percent-encoded password in the URL (`@`, `%`, `:`, `/`, quotes, non-ASCII) is
    decoded for every connection, the event store's included: a referral is recorded and
    read back through the store, and the read pool, key store and relay position connect
    as the role."""
    role = f"hard_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(role),
                sql.Literal(HARD_PASSWORD),
                sql.Identifier(APP),
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
        # The role's other connections, each built from the same settings: the API's read
        # pool, the data-key store, the relay's position.
        container = Container(hard, role="owner")  # the URL's own user, as the owner's is
        pool = container.read_pool()
        pool.open(wait=True, timeout=10)
        try:
            with pool.connection() as conn:
                assert conn.execute("SELECT current_user").fetchone() == (role,)
        finally:
            pool.close()
        assert container.keys.get_or_create(uuid.uuid4()) is not None
        assert PostgresRelayPosition(container.dsn, name=f"test-{role}").load() >= 0

        # The same password as a file beside a URL that names only the user.
        files = tmp_path / "passwords"
        files.mkdir()
        (files / role).write_text(HARD_PASSWORD + "\n")
        no_password = dsn_params(dsn)
        del no_password["password"]
        from_file = settings.model_copy(
            update={
                "database_url": psycopg.conninfo.make_conninfo("", **no_password),
                "pg_password_dir": files,
            }
        )
        with psycopg.connect(from_file.dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        assert from_file.eventsourcing_env()["POSTGRES_PASSWORD"] == HARD_PASSWORD
    finally:
        with psycopg.connect(settings.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def refusal(dsn: str) -> str:
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(dsn, connect_timeout=5).close()
    return str(refused.value)


def test_a_plaintext_connection_is_refused(settings: Settings) -> None:
    plain = psycopg.conninfo.make_conninfo(settings.dsn, sslmode="disable")
    assert "no encryption" in refusal(plain)
    for role in ("app", "read", "auditor"):
        assert "no encryption" in refusal(
            psycopg.conninfo.make_conninfo(settings.dsn_for(role), sslmode="disable")  # type: ignore[arg-type]
        )


def test_a_wrong_password_or_none_is_refused(settings: Settings) -> None:
    for role in ("owner", "app", "read", "auditor"):
        dsn = settings.dsn_for(role)  # type: ignore[arg-type]
        wrong = psycopg.conninfo.make_conninfo(dsn, password="not-the-password")
        assert "password authentication failed" in refusal(wrong)
        params = dsn_params(dsn)
        params.pop("password")
        assert "no password supplied" in refusal(psycopg.conninfo.make_conninfo("", **params))


def test_the_servers_name_is_checked_against_the_site_ca(settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from infra.local.pki import site_ca

    other_ca, _ = site_ca(tmp_path, "some other")
    dsn = psycopg.conninfo.make_conninfo(settings.dsn_for("app"), sslrootcert=str(other_ca))
    assert "certificate verify failed" in refusal(dsn)
    with psycopg.connect(settings.dsn_for("app")) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT current_user").fetchone() == (APP,)


def test_the_application_may_not_change_or_remove_an_event(container: Container) -> None:
    app = container.application
    receipt = app.receive_referral(ReceiveReferral.model_validate(referral_body()), OFFICER)
    events, position = container.events_table, receipt.position
    with psycopg.connect(container.settings.dsn_for("app"), autocommit=True) as conn:
        for statement, table in [
            (
                f"UPDATE {events} SET state = 'x'::bytea WHERE notification_id = {position}",
                events,
            ),
            (f"DELETE FROM {events} WHERE notification_id = {receipt.position}", events),
            (f"TRUNCATE {events}", events),
            (
                f"UPDATE event_chain SET hash = hash WHERE position = {receipt.position}",
                "event_chain",
            ),
            ("DELETE FROM event_chain", "event_chain"),
            ("TRUNCATE chain_checkpoints", "chain_checkpoints"),
        ]:
            with pytest.raises(
                psycopg.errors.InsufficientPrivilege, match=f"permission denied for table {table}"
            ):
                conn.execute(statement)
        assert conn.execute(
            f"SELECT count(*) FROM {events} WHERE notification_id = %s", (receipt.position,)
        ).fetchone() == (1,)


def test_a_privilege_granted_by_mistake_is_still_refused_by_the_trigger(
    container: Container,
) -> None:
    events = container.events_table
    role = f"mistaken_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(container.settings.dsn, autocommit=True) as owner:
        owner.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        owner.execute(
            sql.SQL("GRANT SELECT, UPDATE, DELETE, TRUNCATE ON {}, event_chain TO {}").format(
                sql.Identifier(events), sql.Identifier(role)
            )
        )
        try:
            for statement, op, table in [
                (f"UPDATE {events} SET topic = topic", "UPDATE", events),
                (f"DELETE FROM {events}", "DELETE", events),
                (f"TRUNCATE {events}", "TRUNCATE", events),
                ("DELETE FROM event_chain", "DELETE", "event_chain"),
            ]:
                with owner.transaction():
                    owner.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                    with pytest.raises(
                        psycopg.errors.InsufficientPrivilege,
                        match=f"{table} is append-only: {op} refused for role {role}",
                    ):
                        owner.execute(statement)
        finally:
            owner.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            owner.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_read_side_writes_only_projections_and_the_auditor_only_reads(
    container: Container,
) -> None:
    events = container.events_table
    append = f"SELECT * FROM {events}_append('{{}}'::uuid[], '{{}}', '{{}}', '{{}}', NULL, NULL)"
    with psycopg.connect(container.settings.dsn_for("read"), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (READ,)
        conn.execute("SELECT count(*) FROM proj_referrals.referrals")
        conn.execute(
            "UPDATE projection_positions SET updated_at = updated_at WHERE projection = 'none'"
        )
        for statement in [
            f"INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "VALUES (gen_random_uuid(), 1, 't', ''::bytea)",
            append,
            "DELETE FROM person_keys",
            "DELETE FROM idempotency_keys",
            "INSERT INTO chain_checkpoints DEFAULT VALUES",
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(container.settings.dsn_for("auditor"), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (AUDITOR,)
        conn.execute(f"SELECT count(*) FROM {events}")
        conn.execute("SELECT count(*) FROM event_chain")
        conn.execute("SELECT count(*) FROM proj_referrals.referrals")
        for statement in [
            "SELECT * FROM person_keys",
            "DELETE FROM proj_referrals.referrals",
            "DELETE FROM projection_positions",
            append,
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
