"""A child started with `ends_with_parent` does not outlive its parent; a test port
another program holds is swapped for a free one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

from infra.local.processes import pid_alive
from tests.ports import port_or_free

PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from infra.local.processes import ends_with_parent
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        start_new_session=True,  # as the supervisor starts them: out of reach of Ctrl-C
        preexec_fn=ends_with_parent() if sys.argv[1] == "ends" else None,
    )
    print(child.pid, flush=True)
    time.sleep(120)
    """
)


def orphan_after_parent_killed(mode: str, wait: float) -> bool:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and pid_alive(child):
        time.sleep(0.05)
    left = pid_alive(child)
    if left:
        os.kill(child, signal.SIGKILL)
    return left


def test_a_child_ends_when_its_parent_is_killed() -> None:
    assert orphan_after_parent_killed("ends", wait=10) is False


def test_without_it_the_child_would_be_left_running() -> None:
    # The control: the same start without the hook leaves an orphan, so the test
    # above measures the hook and not the way the child was started.
    assert orphan_after_parent_killed("plain", wait=2) is True


def test_a_held_port_is_swapped_for_a_free_one() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        taken: set[int] = set()
        port = port_or_free(held, taken)
        assert port != held and taken == {port}
        with socket.socket() as check:
            check.bind(("127.0.0.1", port))  # the port it chose is free to listen on


def test_a_free_port_is_kept_unless_this_run_chose_it_already() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    taken: set[int] = set()
    assert port_or_free(free, taken) == free
    again = port_or_free(free, taken)
    assert again != free and taken == {free, again}


STOPPING = textwrap.dedent(
    """
    import os, signal, sys, time
    from services.entrypoints.cli.processes import _stop_event
    stop = _stop_event(float(sys.argv[1]), "the relay")  # as `lead relay` sets it up
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.is_set()
    time.sleep(60)  # a stop that hangs (the relay waiting for an unreachable PostgreSQL)
    """
)


def test_a_relay_told_to_stop_exits_within_its_bound_and_says_why() -> None:
    done = subprocess.run(  # the timeout (30 s) fails the test if it hangs on (60 s)
        [sys.executable, "-c", STOPPING, "1"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 75
    assert "the relay did not stop within 1 s" in done.stderr


def test_a_port_held_as_a_clients_own_is_not_offered_to_a_server() -> None:
    import socket

    from infra.local.processes import bindable, free_port

    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    held = client.getsockname()[1]  # the client's ephemeral port
    try:
        assert not bindable(held)
        other = free_port(held)
        assert other != held and bindable(other)
    finally:
        client.close()
        server.close()
