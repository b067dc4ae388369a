"""A private PostgreSQL cluster made from the machine's server binaries.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to the
``postgres`` OS user and every server command runs through ``runuser``.

Every connection authenticates with scram-sha-256, and every TCP connection is TLS
(`hostssl` only in pg_hba.conf: a plaintext one is refused), with a server certificate
from the site CA (`infra/local/pki.py`) that clients check with `verify-full`. The superuser
(`lead`, the owner role locally) and each least-privilege role (infra/postgres/roles.py) get a
generated password, kept in `<data_dir>/postgres-passwords/<role>` (0600). A cluster made
by an earlier version with trust authentication is upgraded in place on its next start:
its superuser gets a password, pg_hba.conf is replaced.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from infra.local.pki import server_certificate
from infra.local.processes import StartupError, port_open
from infra.settings import DB_USERS, Settings

SERVER_USER = "postgres"
SUPERUSER = DB_USERS["owner"]

# TCP: TLS and scram-sha-256 only (no `host`, no trust); the socket: scram-sha-256.
HBA = """\
# Written by `lead infra up` (infra/local/postgres.py) at every start; edits are lost.
local   all  all                 scram-sha-256
hostssl all  all  127.0.0.1/32   scram-sha-256
hostssl all  all  ::1/128        scram-sha-256
"""
# Only while a trust-auth cluster of an earlier version is given its passwords.
UPGRADE_HBA = "local   all  all  trust\n"


def new_password() -> str:
    return secrets.token_urlsafe(32)


def write_secret(path: Path, text: str) -> None:
    """A file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl: PATH first, then Debian's layout."""
    on_path = shutil.which("pg_ctl")
    if on_path and Path(on_path).with_name("initdb").exists():
        return Path(on_path).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if not candidates:
        raise StartupError(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found; install the "
            "PostgreSQL server package or set LEAD_DATABASE_URL to an existing server."
        )
    return Path(candidates[0]).parent


class LocalPostgres:
    """Creates, starts and stops the cluster in the project's data folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = settings.pg_port
        self.log = settings.data_dir / "logs" / "postgres.log"

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def pgdata(self) -> Path:
        preferred = self.settings.data_dir / "postgres"
        if not self.as_root or self._reachable_by_server_user(preferred.parent):
            return preferred
        # The checkout sits where the postgres user cannot reach (e.g. under /root):
        # keep the cluster in a per-project folder it can.
        digest = hashlib.sha256(str(self.settings.data_dir).encode()).hexdigest()[:12]
        # a fixed, per-project name under /var/tmp, owned by the server user
        return Path("/var/tmp") / f"lead-postgres-{digest}"  # noqa: S108

    def _reachable_by_server_user(self, folder: Path) -> bool:
        folder.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(
            ["runuser", "-u", SERVER_USER, "--", "test", "-x", str(folder)],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(find_bindir() / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check)

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def running(self) -> bool:
        return port_open("127.0.0.1", self.port)

    def init(self) -> None:
        pgdata = self.pgdata
        pgdata.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(pgdata, user.pw_uid, user.pw_gid)
        pgdata.chmod(0o700)
        password = self.password(SUPERUSER)
        pwfile = pgdata.parent / f".{pgdata.name}.initdb-pw"  # initdb wants pgdata empty
        self._write_server_file(pwfile, (password + "\n").encode())
        try:
            result = self._run(
                "initdb",
                "-D",
                str(pgdata),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StartupError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")

    def password(self, user: str) -> str:
        """The role's password, made (and kept in its file) on first call."""
        found = self.settings.pg_password(user)
        if found is None:
            found = new_password()
            write_secret(self.settings.password_dir / user, found)
        return found

    def _write_server_file(self, path: Path, data: bytes) -> None:
        """A file in the cluster's folder, owned by the server user, mode 0600."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(path, user.pw_uid, user.pw_gid)

    def _install_tls_and_hba(self, *, upgrading: bool) -> None:
        """The server certificate (site CA) and key, and pg_hba.conf, in the cluster's
        folder: the key must belong to the server user and be readable by it alone."""
        cert = server_certificate(self.settings.data_dir, "postgres")
        self._write_server_file(self.pgdata / "server.crt", cert.cert.read_bytes())
        self._write_server_file(self.pgdata / "server.key", cert.key.read_bytes())
        hba = (UPGRADE_HBA if upgrading else "") + HBA
        self._write_server_file(self.pgdata / "pg_hba.conf", hba.encode())

    def start(self, timeout: float = 60.0) -> None:
        upgrading = self.initialised() and self.settings.pg_password(SUPERUSER) is None
        if self.running():
            if not upgrading:
                return
            self.stop()  # an earlier version's trust-auth cluster: restarted with TLS
        if not self.initialised():
            self.init()
        self._install_tls_and_hba(upgrading=upgrading)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        server_log = self.pgdata / "server.log"
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories='{self.pgdata}' -c max_connections=200 "
            "-c shared_buffers=256MB -c fsync=on -c synchronous_commit=on "
            "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key "
            "-c ssl_min_protocol_version=TLSv1.2 -c password_encryption=scram-sha-256"
        )
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-l",
            str(server_log),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            check=False,
        )
        if result.returncode != 0:
            tail = server_log.read_text(errors="replace")[-2000:] if server_log.exists() else ""
            raise StartupError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
        if upgrading:
            self._upgrade_from_trust()
        self._ensure_database()

    def _upgrade_from_trust(self) -> None:
        """Give the superuser of a trust-auth cluster its password (over the socket,
        trusted for this step only), then drop the trust line."""
        with psycopg.connect(
            host=str(self.pgdata),
            port=self.port,
            user=SUPERUSER,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(self.password(SUPERUSER))
                )
            )
            self._install_tls_and_hba(upgrading=False)
            conn.execute("SELECT pg_reload_conf()")

    def superuser_dsn(self, dbname: str = "lead") -> str:
        settings = self.settings.model_copy(update={"database_url": None})
        return make_conninfo(settings.dsn, dbname=dbname)

    def _ensure_database(self) -> None:
        """The database, owned by the superuser (the owner role locally), and each
        least-privilege role with its password; their grants are made by
        `Container.prepare` (infra/postgres/roles.py)."""
        from infra.postgres.roles import ensure_roles

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.superuser_dsn("postgres"), autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname='lead'"
                    ).fetchone()
                    if not exists:
                        conn.execute("CREATE DATABASE lead")
                    ensure_roles(conn, self.password)
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self, mode: str = "fast") -> None:
        if not self.initialised():
            return
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.pgdata, ignore_errors=True)
