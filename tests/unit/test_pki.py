"""The local stack's site CA and server certificates (infra/local/pki.py)."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from infra.local.pki import server_certificate, site_ca


def test_a_client_trusting_the_site_ca_verifies_the_servers_name(tmp_path: Path) -> None:
    made = server_certificate(tmp_path, "kafka", ("localhost", "127.0.0.1"))
    assert made.key.stat().st_mode & 0o077 == 0  # the key is its owner's alone
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(made.cert, made.key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except ssl.SSLError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(made.ca))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.recv(2) == b"ok"
    thread.join(5)
    listener.close()


def test_the_ca_is_kept_and_a_certificate_remade_only_when_its_hosts_change(
    tmp_path: Path,
) -> None:
    ca = site_ca(tmp_path)[0].read_bytes()
    first = server_certificate(tmp_path, "postgres", ("localhost",)).cert.read_bytes()
    assert server_certificate(tmp_path, "postgres", ("localhost",)).cert.read_bytes() == first
    other = server_certificate(tmp_path, "postgres", ("localhost", "db.internal"))
    assert other.cert.read_bytes() != first
    assert site_ca(tmp_path)[0].read_bytes() == ca
