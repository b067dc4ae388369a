"""The local stack's certificates: a site CA, and a certificate it signs for each server.

`lead infra up` makes the CA on first start and keeps it under the data directory
(`<data_dir>/pki`), with a server certificate for each local server (the Kafka
brokers, PostgreSQL) naming the hosts clients connect to, so that clients verify the
server's name against the CA (`verify-full`, and Kafka's default endpoint
identification). Keys are EC P-256, written as unencrypted PKCS#8 PEM readable only
by their owner. Against an external Kafka or PostgreSQL the operator's CA is used
instead and nothing here is made.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 825


@dataclass(frozen=True)
class ServerCertificate:
    """A server's certificate chain (its certificate, then the CA's) and its key."""

    cert: Path
    key: Path
    ca: Path


def pki_dir(data_dir: Path) -> Path:
    return data_dir / "pki"  # Settings.local_ca_file is the CA certificate in it


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # a little clock skew


def site_ca(data_dir: Path, site: str = "lead") -> tuple[Path, Path]:
    """The CA's certificate and key paths, made on first call and kept."""
    folder = pki_dir(data_dir)
    cert_path, key_path = folder / "ca.crt", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{site} site CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_certificate(
    data_dir: Path, name: str, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> ServerCertificate:
    """`<data_dir>/pki/<name>.crt|.key`, signed by the site CA for `hosts` (DNS names
    or IP addresses); made on first call, and again if the hosts changed."""
    ca_cert_path, ca_key_path = site_ca(data_dir)
    folder = pki_dir(data_dir)
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    wanted = sorted(hosts)
    if cert_path.exists() and key_path.exists():
        existing = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        san = existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have = sorted(
            [str(v) for v in san.get_values_for_type(x509.DNSName)]
            + [str(v) for v in san.get_values_for_type(x509.IPAddress)]
        )
        if have == wanted:
            return ServerCertificate(cert_path, key_path, ca_cert_path)
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    return ServerCertificate(cert_path, key_path, ca_cert_path)
