"""The site's Ed25519 signing key: load a private or public key, make a new one, and the
public key as the PEM auditors are given.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "generate_private_key_pem",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
]


def load_private_key(pem_or_raw: bytes) -> Ed25519PrivateKey:
    """An Ed25519 key from an unencrypted PKCS#8 PEM or from its 32 raw bytes."""
    if pem_or_raw.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(pem_or_raw, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM does not hold an Ed25519 private key")
        return key
    if len(pem_or_raw) == 32:
        return Ed25519PrivateKey.from_private_bytes(pem_or_raw)
    raise ValueError("expected a PEM private key or 32 raw bytes")


def public_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    """The public half, as a SubjectPublicKeyInfo PEM (what auditors are given)."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from a SubjectPublicKeyInfo PEM (or its 32 raw bytes)."""
    if pem.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM does not hold an Ed25519 public key")
        return key
    if len(pem) == 32:
        return Ed25519PublicKey.from_public_bytes(pem)
    raise ValueError("expected a PEM public key or 32 raw bytes")


def generate_private_key_pem() -> bytes:
    """A new Ed25519 key as an unencrypted PKCS#8 PEM (keep it like a password)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
