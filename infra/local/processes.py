"""Starting, finding and stopping processes: the local servers' through pid files, the
backend's own as children that end with their starter, and a process's own stop, bounded."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def ends_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for a child that must not outlive whoever started it (the API,
    relay and workers under `lead run`, a benchmark or a test run): the kernel sends it
    SIGTERM when the starting thread ends, however it ends (SIGKILL included).

    Linux only, and only from the main thread: the signal follows the thread that
    forked, so a child started from a short-lived thread would be stopped with it.
    Elsewhere None (the caller stops its children itself, as before).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent ended before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child


NOT_STOPPED_IN_TIME = 75  # EX_TEMPFAIL: stopped, but not cleanly


def exit_unless_stopped_within(seconds: float, what: str) -> threading.Timer:
    """From now, `seconds` for the process to end on its own; then it exits with
    NOT_STOPPED_IN_TIME and a log line saying why."""

    def give_up() -> None:
        log.error(
            "%s did not stop within %.0f s (is Kafka or PostgreSQL unreachable?); exiting "
            "without a clean stop: what it had not committed is done again on restart",
            what,
            seconds,
        )
        logging.shutdown()
        os._exit(NOT_STOPPED_IN_TIME)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer


class StartupError(RuntimeError):
    """A local server did not come up; the message says where its log is."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def spawn(
    cmd: Sequence[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None
) -> int:
    """Start a detached process (its own session, so Ctrl-C in a shell does not reach it)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def terminate(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it has not gone within the timeout."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `port` now: nothing listens there, and no
    connection holds it as its own (ephemeral) local port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """`preferred` if a server could listen there, else (or for 0, or one past 65535) a
    port the OS picks."""
    if 0 < preferred < 65536 and bindable(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def wait_for_port(
    host: str, port: int, timeout: float, what: str, log: Path, pid: int | None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if pid is not None and not pid_alive(pid):
            raise StartupError(f"{what} exited during start-up; see {log}")
        time.sleep(0.2)
    raise StartupError(f"{what} did not listen on {host}:{port} within {timeout:.0f}s; see {log}")
