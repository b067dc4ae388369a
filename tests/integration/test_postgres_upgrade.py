"""A local cluster made with trust authentication (before passwords and TLS) is upgraded
in place by its next start: its superuser gets a password, plaintext is refused, its
data is kept."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from infra.local.postgres import SUPERUSER, LocalPostgres
from infra.settings import Settings
from tests.conftest import TEST_PORTS, make_test_settings
from tests.ports import port_or_free

pytestmark = pytest.mark.integration

TRUST_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"


@pytest.fixture
def trust_cluster(settings: Settings) -> Iterator[LocalPostgres]:
    """A cluster of its own as an earlier version left it: trust auth, no passwords."""
    own = make_test_settings(
        LEAD_DATA_DIR=str(settings.data_dir / "upgrade"),
        LEAD_PG_PORT=str(port_or_free(settings.pg_port + 7, TEST_PORTS)),
    )
    pg = LocalPostgres(own)
    pg.destroy()
    pg.start()
    with psycopg.connect(own.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
        conn.execute(f"ALTER ROLE {SUPERUSER} PASSWORD NULL")
    pg.stop()
    (pg.pgdata / "pg_hba.conf").write_text(TRUST_HBA)
    for path in own.password_dir.iterdir():
        path.unlink()
    try:
        yield pg
    finally:
        pg.destroy()


def test_a_trust_cluster_gets_passwords_and_tls_and_keeps_its_data(
    trust_cluster: LocalPostgres,
) -> None:
    own = trust_cluster.settings
    trust_cluster.start()
    assert own.pg_password(SUPERUSER)
    assert (own.password_dir / SUPERUSER).stat().st_mode & 0o777 == 0o600
    with psycopg.connect(own.dsn) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
        (scram,) = conn.execute(
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s",
            (SUPERUSER,),
        ).fetchone() or (False,)
        assert scram
    with psycopg.connect(own.dsn_for("app")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("lead_app",)
    plain = f"host=127.0.0.1 port={own.pg_port} dbname=lead user={SUPERUSER} sslmode=disable"
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(plain).close()
    socket = f"host={trust_cluster.pgdata} port={own.pg_port} dbname=lead user={SUPERUSER}"
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(socket).close()  # the socket's trust line was only for the upgrade
