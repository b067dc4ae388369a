"""The test stack's ports: the usual ones, or ones the system says are free when
another program (another checkout's test run, a developer's server) holds them."""

from __future__ import annotations

from infra.local.processes import bindable, free_port


def _free(port: int) -> bool:
    return bindable(port, "0.0.0.0")  # conflicts with a listener on any address


def _any_free() -> int:
    return free_port(0, "0.0.0.0")


def port_or_free(preferred: int, taken: set[int]) -> int:
    """`preferred` when nothing listens on it, else a free port; never one in `taken`
    (those already chosen for the same stack), which the choice is added to."""
    port = preferred
    while port in taken or not _free(port):
        port = _any_free()
    taken.add(port)
    return port
