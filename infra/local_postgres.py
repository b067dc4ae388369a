"""A private PostgreSQL cluster made from the machine's server binaries.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to the
``postgres`` OS user and every server command runs through ``runuser``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from infra.processes import StartupError, port_open
from infra.settings import Settings

SERVER_USER = "postgres"


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
        result = self._run(
            "initdb",
            "-D",
            str(pgdata),
            "-U",
            "lead",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            check=False,
        )
        if result.returncode != 0:
            raise StartupError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")

    def start(self, timeout: float = 60.0) -> None:
        if self.running():
            return
        if not self.initialised():
            self.init()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        server_log = self.pgdata / "server.log"
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories='{self.pgdata}' -c max_connections=200 "
            "-c shared_buffers=256MB -c fsync=on -c synchronous_commit=on"
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
        self._ensure_database()

    def _ensure_database(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://lead@127.0.0.1:{self.port}/postgres", autocommit=True
                ) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname='lead'"
                    ).fetchone()
                    if not exists:
                        conn.execute("CREATE DATABASE lead")
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
