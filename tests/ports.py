"""The test stack's ports: the usual ones, or ones the system says are free when
another program (another checkout's test run, a developer's server) holds them."""

from __future__ import annotations

import socket


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind(("0.0.0.0", port))  # conflicts with a listener on any address
        except OSError:
            return False
    return True


def _any_free() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def port_or_free(preferred: int, taken: set[int]) -> int:
    """`preferred` when nothing listens on it, else a free port; never one in `taken`
    (those already chosen for the same stack), which the choice is added to."""
    port = preferred
    while port in taken or not _free(port):
        port = _any_free()
    taken.add(port)
    return port
