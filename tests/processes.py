"""Runs the backend's own processes (`lead api|relay|consumers`) for e2e tests."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from infra.local.processes import ends_with_parent, terminate
from infra.settings import PROJECT_ROOT

_counter = itertools.count()
_started: list[Proc] = []


def stop_all() -> None:
    """Session teardown: no process a test started outlives the test run."""
    for proc in _started:
        proc.stop()


class Proc:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path, *args: str) -> None:
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / f"{name}-{next(_counter)}.log"
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "services.entrypoints.cli", name, *args],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=ends_with_parent(),  # a killed test run leaves none behind
            )
        _started.append(self)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to flush, commit or say goodbye."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.alive():
            terminate(self.popen.pid, timeout=20)
        self.popen.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, procs: tuple[Proc, ...] = ()
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            if not proc.alive():
                raise AssertionError(f"{proc.name} died while waiting for {what}:\n{proc.tail()}")
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.tail()}" for p in procs)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
