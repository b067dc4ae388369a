"""The site's master keys: a key ring, each key with an id, one of them current.

A person's data key is stored only wrapped by a master key (AES-256-GCM, the person
id as associated data), with the id of the key that wrapped it (`person_keys`,
`master_key_id`). New data keys are wrapped by the ring's current key; every key in
the ring unwraps what it wrapped, so after a rotation (a new current key, every data
key rewrapped by it: `lead keys rotate`) what was sealed before still opens, and the
old key can be retired (removed from the ring) once nothing is wrapped by it.

`MasterKeys` is all the key store asks of a ring: which key is current, which ids it
knows, and wrap / unwrap by id. Two rings come with the backend, both holding the key
material in the process:

- `FileKeyRing`: one file per key in a folder (`LEAD_MASTER_KEY_DIR`, default
  `<data_dir>/master-keys`: `<id>.key`, 32 bytes base64, mode 0600, and `current`,
  the current key's id), plus the single key file of earlier versions
  (`LEAD_MASTER_KEY_FILE`, default `<data_dir>/master.key`), whose id is its
  fingerprint. It follows its folder: a process notices at its next wrap that
  `current` changed, and reloads the folder when asked to unwrap with an id it does
  not know, so running processes take up a rotation without a restart.
- `EnvKeyRing`: `LEAD_MASTER_KEYS` (`id:base64,id:base64`; a bare base64 key gets
  its fingerprint as id) and `LEAD_MASTER_KEY_ID` (the current one, default the
  first), read once at start.

A KMS or HSM implements the same four calls without the key ever leaving it: `wrap`
is its encrypt call (the key id its key's name or ARN, the associated data its
encryption context), `unwrap` its decrypt call (docs/security.md, "Keys").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CURRENT_FILE = "current"
KEY_SUFFIX = ".key"


class UnknownMasterKeyError(LookupError):
    """A data key is wrapped by a master key this ring does not hold."""


class KeyRingError(ValueError):
    """The key ring's configuration or files are not usable (with what to do)."""


class MasterKeys(Protocol):
    """What the key store needs of the site's master keys; a KMS can implement it."""

    def current_id(self) -> str:
        """The id of the key that wraps new data keys."""

    def ids(self) -> tuple[str, ...]:
        """Every key id this ring can unwrap with."""

    def wrap(self, key_id: str, data_key: bytes, aad: bytes) -> bytes:
        """`data_key` encrypted by the key `key_id`, bound to `aad`."""

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        """The data key; UnknownMasterKeyError if `key_id` is not in the ring,
        `cryptography.exceptions.InvalidTag` if it did not wrap this."""

    def reload(self) -> None:
        """Read the ring's source again (a rotation or a retirement elsewhere)."""


def fingerprint(key: bytes) -> str:
    """A key's id when it is given none: derived from it, revealing nothing of it."""
    return "mk-" + hashlib.sha256(b"lead master key id\x00" + key).hexdigest()[:16]


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingError(f"{where}: a master key is 32 bytes, base64-encoded") from None
    if len(key) != 32:
        raise KeyRingError(f"{where}: a master key is 32 bytes, base64-encoded")
    return key


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


class LocalKeyRing:
    """Master keys held in the process (the file and environment rings are these)."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        self._keys = dict(keys)
        self._current = current
        self._check()

    def _check(self) -> None:
        for key_id, key in self._keys.items():
            if not KEY_ID.match(key_id):
                raise KeyRingError(f"master key id {key_id!r}: letters, digits and . _ -, 1-64")
            if len(key) != 32:
                raise KeyRingError(f"master key {key_id}: a master key is 32 bytes")
        if self._current not in self._keys:
            raise KeyRingError(
                f"the current master key {self._current!r} is not in the key ring "
                f"(it holds: {', '.join(sorted(self._keys)) or 'nothing'})"
            )

    def current_id(self) -> str:
        return self._current

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownMasterKeyError(
                f"master key {key_id!r} is not in the key ring (retired, or not installed "
                "here): install it, or rotate the data keys it wraps onto the current key"
            ) from None

    def wrap(self, key_id: str, data_key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.key(key_id)).encrypt(nonce, data_key, aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        return AESGCM(self.key(key_id)).decrypt(wrapped[:12], wrapped[12:], aad)

    def reload(self) -> None:
        pass


class MemoryKeyRing(LocalKeyRing):
    """A writable ring in memory, for unit tests (what `FileKeyRing` does with files)."""

    @staticmethod
    def id_for(key: bytes) -> str:
        return fingerprint(key)

    def add(self, key: bytes) -> str:
        self._keys[fingerprint(key)] = key
        return fingerprint(key)

    def make_current(self, key_id: str) -> None:
        self.key(key_id)
        self._current = key_id

    def remove(self, key_id: str) -> None:
        if key_id == self._current:
            raise KeyRingError(f"{key_id} is the current master key: rotate to another first")
        self.key(key_id)
        del self._keys[key_id]


def unwrap_any(ring: MasterKeys, wrapped: bytes, aad: bytes) -> tuple[str, bytes]:
    """A data key wrapped before keys had ids: the ring's key that opens it (GCM
    authenticates, so a wrong key fails, never gives a wrong data key)."""
    for key_id in ring.ids():
        try:
            return key_id, ring.unwrap(key_id, wrapped, aad)
        except InvalidTag:
            continue
    raise UnknownMasterKeyError("no master key in the key ring unwraps this data key")


class EnvKeyRing(LocalKeyRing):
    """`LEAD_MASTER_KEYS=id:base64,...`, current `LEAD_MASTER_KEY_ID` (default the first)."""

    def __init__(self, spec: str, current: str | None = None) -> None:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for n, entry in enumerate(e.strip() for e in spec.split(",")):
            if not entry:
                continue
            key_id, sep, encoded = entry.rpartition(":")
            where = f"LEAD_MASTER_KEYS entry {n + 1}"
            key = decode_key(encoded if sep else entry, where)
            key_id = key_id.strip() if sep else fingerprint(key)
            if key_id in keys:
                raise KeyRingError(f"{where}: the id {key_id!r} is given twice")
            keys[key_id] = key
            order.append(key_id)
        if not keys:
            raise KeyRingError("LEAD_MASTER_KEYS holds no key (id:base64, comma-separated)")
        super().__init__(keys, current or order[0])


def _write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileKeyRing:
    """Master keys in a folder (`<id>.key` each, `current` naming one), plus the single
    key file of earlier versions (its id its fingerprint). `create`: outside
    production a missing ring is made with one new key."""

    def __init__(self, directory: Path, legacy_file: Path | None = None, *, create: bool) -> None:
        self.directory = directory
        self.legacy_file = legacy_file
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None  # the `current` file's stat
        self._ring = self._load(create=create)

    # -- reading ------------------------------------------------------------------
    def _current_stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.directory / CURRENT_FILE)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self) -> tuple[dict[str, bytes], str | None, str | None]:
        """(keys, the `current` file's id, the legacy key's id)."""
        keys: dict[str, bytes] = {}
        legacy_id = None
        if self.legacy_file is not None and self.legacy_file.exists():
            key = decode_key(self.legacy_file.read_text(), str(self.legacy_file))
            legacy_id = fingerprint(key)
            keys[legacy_id] = key
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*" + KEY_SUFFIX)):
                key = decode_key(path.read_text(), str(path))
                key_id = path.name.removesuffix(KEY_SUFFIX)
                if key_id != fingerprint(key):
                    raise KeyRingError(
                        f"{path}: this key's id is {fingerprint(key)}, not {key_id} "
                        "(a key file is named after its key's fingerprint)"
                    )
                keys[key_id] = key
        current = None
        current_path = self.directory / CURRENT_FILE
        if current_path.exists():
            current = current_path.read_text().strip()
        return keys, current, legacy_id

    def _load(self, *, create: bool) -> LocalKeyRing:
        with self._lock:
            seen = self._current_stat()
            keys, current, legacy_id = self._read()
            current = current or legacy_id
            if current is None:
                if keys:
                    raise KeyRingError(
                        f"{self.directory}: no `{CURRENT_FILE}` file naming the current "
                        f"master key (the folder holds {', '.join(sorted(keys))})"
                    )
                if not create:
                    raise KeyRingError(
                        f"no master key in {self.directory} or at {self.legacy_file}: set "
                        "LEAD_MASTER_KEY_DIR (or LEAD_MASTER_KEY_FILE, or LEAD_MASTER_KEYS) "
                        "to the site's keys"
                    )
                key = new_key()
                current = self._install(key)
                self._point_current(current)
                seen = self._current_stat()
                keys = {current: key}
            self._seen = seen
            return LocalKeyRing(keys, current)

    def _fresh(self) -> LocalKeyRing:
        if self._current_stat() != self._seen:
            self._ring = self._load(create=False)
        return self._ring

    # -- MasterKeys -----------------------------------------------------------------
    def current_id(self) -> str:
        return self._fresh().current_id()

    def ids(self) -> tuple[str, ...]:
        return self._fresh().ids()

    def wrap(self, key_id: str, data_key: bytes, aad: bytes) -> bytes:
        return self._ring.wrap(key_id, data_key, aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        ring = self._ring
        if key_id not in ring.ids():  # rotated in by another process: read the folder
            self.reload()
            ring = self._ring
        return ring.unwrap(key_id, wrapped, aad)

    def reload(self) -> None:
        self._ring = self._load(create=False)

    # -- managing (`lead keys`) --------------------------------------------------------
    def _install(self, key: bytes) -> str:
        key_id = fingerprint(key)
        path = self.directory / f"{key_id}{KEY_SUFFIX}"
        if not path.exists():
            _write_private(path, encode_key(key) + "\n")
        return key_id

    def _point_current(self, key_id: str) -> None:
        _write_private(self.directory / CURRENT_FILE, key_id + "\n")

    @staticmethod
    def id_for(key: bytes) -> str:
        return fingerprint(key)

    def add(self, key: bytes) -> str:
        """Put a key in the ring (not current yet); its id."""
        key_id = self._install(key)
        self.reload()
        return key_id

    def make_current(self, key_id: str) -> None:
        if key_id not in self._ring.ids():
            self.reload()
        self._ring.key(key_id)  # UnknownMasterKeyError if absent
        self._point_current(key_id)
        self.reload()

    def remove(self, key_id: str) -> None:
        """Delete a key's material from the ring for good (never the current one)."""
        self.reload()
        if key_id == self._ring.current_id():
            raise KeyRingError(f"{key_id} is the current master key: rotate to another first")
        self._ring.key(key_id)  # UnknownMasterKeyError if absent
        path = self.directory / f"{key_id}{KEY_SUFFIX}"
        if path.exists():
            path.unlink()
        elif self.legacy_file is not None and self.legacy_file.exists():
            legacy = decode_key(self.legacy_file.read_text(), str(self.legacy_file))
            if fingerprint(legacy) == key_id:
                self.legacy_file.unlink()
        self.reload()


def key_ring(
    *,
    env_keys: str | None,
    env_current: str | None,
    directory: Path,
    legacy_file: Path | None,
    create: bool,
) -> MasterKeys:
    """The site's ring from its settings: the environment's keys if set, else the files."""
    if env_keys:
        return EnvKeyRing(env_keys, env_current)
    ring = FileKeyRing(directory, legacy_file, create=create)
    if env_current and env_current != ring.current_id():
        raise KeyRingError(
            f"LEAD_MASTER_KEY_ID is {env_current} but {directory / CURRENT_FILE} names "
            f"{ring.current_id()}: with key files, `lead keys rotate` sets the current key"
        )
    return ring
