"""The keyring: data keys wrapped by a master key, unwrapped once per process (docs/security-keys.md).

* Data keys (``k1``, ``k2`` …) are 256-bit AES-GCM keys. Exactly one is active: it encrypts every new
  value. Retired keys only decrypt, until ``fincrm keys rotate`` has moved every value off them and
  ``fincrm keys retire`` destroys them.
* The blind-index key (``i1`` …) is an HMAC-SHA-256 key, a separate kind with its own policy.
* Keys are stored wrapped (AES-256-GCM under the master key, the key id as associated data). The
  master key comes from a :class:`MasterKeyProvider`: the environment, a key file, or later a KMS or
  HSM adapter implementing the same two methods.
* NIST SP 800-38D: with random 96-bit nonces a key must not exceed 2**32 encryptions. Encryptions are
  counted in memory, written to the key row with ``F()`` every ``FINCRM_KEY_COUNTER_FLUSH_EVERY``
  encryptions (after the caller's commit) and at exit; past ``FINCRM_KEY_ROTATE_AFTER_ENCRYPTIONS``
  (default 2**30) a new active key is made automatically.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from fincrm.security.models import DataKey

TOKEN_VERSION = "v1"  # noqa: S105 - a format version, not a secret
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_ID_PATTERN = re.compile(r"^[a-z][0-9]{1,14}$")
# The test profile's master key: fixed, so test databases stay readable between runs. Never used
# by the development or production profiles.
TEST_MASTER_KEY = hashlib.sha256(b"fincrm test master key, never used outside tests").digest()
DEVELOPMENT_KEY_FILE = "master.key"


class KeyringError(Exception):
    """A key cannot be made, found or used."""


class MasterKeyError(KeyringError):
    """The master key is missing, malformed, badly protected or not the one that wrapped the keys."""


class DecryptionError(KeyringError):
    """A stored value does not decrypt: moved from another row or column, altered, or its key is gone."""


class MasterKeyProvider(Protocol):
    """What a master key does. A KMS or HSM adapter implements these and nothing else."""

    @property
    def fingerprint(self) -> str:
        """A short, non-secret identifier of the master key (stored beside each wrapped key)."""
        ...

    @property
    def description(self) -> str:
        """Where the key comes from, for messages (never the key itself)."""
        ...

    def wrap(self, key_id: str, plaintext: bytes) -> bytes: ...

    def unwrap(self, key_id: str, blob: bytes) -> bytes: ...


def _wrap_aad(key_id: str) -> bytes:
    return b"fincrm:datakey:" + key_id.encode("ascii")


class AesGcmMasterKey:
    """A 256-bit master key held in process memory; wraps with AES-256-GCM."""

    def __init__(self, key: bytes, description: str) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"the master key from {description} must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self._fingerprint = hmac.new(key, b"fincrm master key fingerprint", hashlib.sha256).hexdigest()[:16]
        self._description = description

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def description(self) -> str:
        return self._description

    def wrap(self, key_id: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, _wrap_aad(key_id))

    def unwrap(self, key_id: str, blob: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _wrap_aad(key_id))
        except (InvalidTag, ValueError):
            raise MasterKeyError(
                f"the master key from {self._description} cannot unwrap key {key_id}: the key was "
                "wrapped by another master key, or its stored form was altered"
            ) from None


def _decode_master_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{source} must be the base64 text of 32 random bytes") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{source} must be the base64 text of 32 bytes, got {len(key)} bytes")
    return key


def environment_master_key(value: str, name: str = "FINCRM_MASTER_KEY") -> AesGcmMasterKey:
    return AesGcmMasterKey(_decode_master_key(value, name), f"the environment ({name})")


def file_master_key(path: Path) -> AesGcmMasterKey:
    """The master key from a file holding its base64 text; the file must be private (mode 0600)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise MasterKeyError(f"the master key file {path} does not exist") from None
    if os.name == "posix" and info.st_mode & 0o077:
        raise MasterKeyError(
            f"the master key file {path} may be read by others (mode {info.st_mode & 0o777:o}); "
            "make it readable by its owner only: chmod 600"
        )
    return AesGcmMasterKey(
        _decode_master_key(path.read_text(encoding="ascii"), f"the key file {path}"), f"the key file {path}"
    )


def write_key_file(path: Path) -> None:
    """Write a new random master key to ``path`` (mode 0600); refuses to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii") + "\n")


def configured_provider() -> MasterKeyProvider:
    """The master key the settings name: environment, then key file; otherwise per profile."""
    if settings.FINCRM_MASTER_KEY:
        return environment_master_key(settings.FINCRM_MASTER_KEY)
    if settings.FINCRM_MASTER_KEY_FILE:
        return file_master_key(Path(settings.FINCRM_MASTER_KEY_FILE))
    profile = getattr(settings, "FINCRM_PROFILE", "production")
    if profile == "test":
        return AesGcmMasterKey(TEST_MASTER_KEY, "the fixed test key")
    if profile == "development":
        path = Path(settings.FINCRM_DATA_DIR) / DEVELOPMENT_KEY_FILE
        if not path.exists():
            write_key_file(path)
            sys.stderr.write(f"fincrm: made a development master key at {path} (keep it with the data)\n")
        return file_master_key(path)
    raise MasterKeyError("no master key: set FINCRM_MASTER_KEY or FINCRM_MASTER_KEY_FILE")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Token:
    """The parts of a stored value ``v1:<key id>:<b64 nonce>:<b64 ciphertext+tag>``."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    @classmethod
    def parse(cls, text: str) -> Token:
        parts = text.split(":")
        if len(parts) != 4 or parts[0] != TOKEN_VERSION or not KEY_ID_PATTERN.match(parts[1]):
            raise DecryptionError("the stored value is not an fincrm encrypted value")
        try:
            nonce = base64.b64decode(parts[2], validate=True)
            ciphertext = base64.b64decode(parts[3], validate=True)
        except (binascii.Error, ValueError):
            raise DecryptionError("the stored value is not an fincrm encrypted value") from None
        if len(nonce) != NONCE_BYTES or len(ciphertext) < 16:
            raise DecryptionError("the stored value is not an fincrm encrypted value")
        return cls(parts[1], nonce, ciphertext)


def token_key_id(text: str) -> str:
    """The key id a stored value names (no decryption)."""
    parts = text.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == TOKEN_VERSION else ""


@dataclass(frozen=True)
class _Loaded:
    key_id: str
    kind: str
    wrapped: bytes
    material: bytes
    aead: AESGCM


class Keyring:
    """Process-wide cache of unwrapped keys and encryption counters. Thread-safe."""

    def __init__(self, provider: MasterKeyProvider | None = None) -> None:
        self._provider = provider
        self._lock = threading.RLock()
        self._keys: dict[str, _Loaded] = {}
        self._active: dict[str, tuple[str, float]] = {}
        # Keys this process made inside a transaction not yet seen committing (id -> wrapped form):
        # re-checked against the table until then, so a rolled-back key is never used again.
        self._uncommitted: dict[str, bytes] = {}
        self._pending: dict[str, int] = {}
        self._known: dict[str, int] = {}
        # The on-commit list of the transaction a flush is already scheduled in (Django replaces
        # that list on commit and rollback, so a rolled-back schedule never blocks the next one).
        self._scheduled_in: object = None
        self._rotation_due = False

    # -- configuration -------------------------------------------------------------------------
    @property
    def provider(self) -> MasterKeyProvider:
        if self._provider is None:
            self._provider = configured_provider()
        return self._provider

    def use_provider(self, provider: MasterKeyProvider | None) -> None:
        """Switch master key (None: the configured one again) and forget every unwrapped key."""
        with self._lock:
            self._provider = provider
            self.forget()

    def reset(self) -> None:
        """Forget everything, counters included (tests)."""
        with self._lock:
            self.forget()
            self._pending.clear()
            self._known.clear()
            self._scheduled_in = None
            self._rotation_due = False

    def forget(self) -> None:
        """Drop cached keys (counters not yet written are kept)."""
        with self._lock:
            self._keys.clear()
            self._active.clear()
            self._uncommitted.clear()

    # -- keys ----------------------------------------------------------------------------------
    def _remember(self, row: DataKey) -> _Loaded:
        wrapped = bytes(row.wrapped)
        with self._lock:
            loaded = self._keys.get(row.key_id)
            if loaded is not None and loaded.wrapped == wrapped:
                self._known[row.key_id] = max(self._known.get(row.key_id, 0), row.encryptions)
                return loaded
        if not wrapped:
            raise DecryptionError(f"key {row.key_id} was destroyed")
        material = self.provider.unwrap(row.key_id, wrapped)
        loaded = _Loaded(row.key_id, row.kind, wrapped, material, AESGCM(material))
        with self._lock:
            self._keys[row.key_id] = loaded
            self._known[row.key_id] = row.encryptions
            made = self._uncommitted.get(row.key_id)
            if made is not None and made != wrapped:
                del self._uncommitted[row.key_id]
        return loaded

    def _load(self, key_id: str, *, reload: bool = False) -> _Loaded:
        with self._lock:
            loaded = self._keys.get(key_id)
        if loaded is None or reload or key_id in self._uncommitted:
            row = DataKey.objects.filter(key_id=key_id).first()
            if row is None:
                with self._lock:
                    self._keys.pop(key_id, None)
                raise DecryptionError(f"key {key_id} does not exist")
            if row.status == DataKey.Status.DESTROYED:
                raise DecryptionError(f"key {key_id} was destroyed")
            loaded = self._remember(row)
        return loaded

    def active_key_id(self, kind: str = DataKey.Kind.DATA) -> str:
        with self._lock:
            cached = self._active.get(kind)
            fresh = cached is not None and time.monotonic() - cached[1] < settings.FINCRM_KEY_CACHE_SECONDS
            if cached is not None and fresh and cached[0] not in self._uncommitted:
                return cached[0]
        row = DataKey.objects.filter(kind=kind, status=DataKey.Status.ACTIVE).first()
        if row is None:
            row = self._create(kind)
        self._remember(row)
        with self._lock:
            self._active[kind] = (row.key_id, time.monotonic())
        return row.key_id

    def _next_key_id(self, kind: str) -> str:
        prefix = "k" if kind == DataKey.Kind.DATA else "i"
        numbers = [
            int(key_id[1:])
            for key_id in DataKey.objects.filter(kind=kind).values_list("key_id", flat=True)
            if key_id[1:].isdigit()
        ]
        return f"{prefix}{max(numbers, default=0) + 1}"

    def _create(self, kind: str, *, retire_active: bool = False) -> DataKey:
        """A new active key of ``kind``; with ``retire_active`` the current active one retires."""
        material = os.urandom(KEY_BYTES)
        for _attempt in range(5):
            key_id = self._next_key_id(kind)
            wrapped = self.provider.wrap(key_id, material)
            try:
                with transaction.atomic():
                    if retire_active:
                        DataKey.objects.filter(kind=kind, status=DataKey.Status.ACTIVE).update(
                            status=DataKey.Status.RETIRED, retired_at=timezone.now()
                        )
                    row = DataKey.objects.create(
                        key_id=key_id,
                        kind=kind,
                        status=DataKey.Status.ACTIVE,
                        wrapped=wrapped,
                        master_fingerprint=self.provider.fingerprint,
                    )
            except IntegrityError:
                # Another process made one at the same moment.
                existing = DataKey.objects.filter(kind=kind, status=DataKey.Status.ACTIVE).first()
                if existing is not None and not retire_active:
                    return existing
                continue
            if transaction.get_connection().in_atomic_block:
                with self._lock:
                    self._uncommitted[key_id] = wrapped
                transaction.on_commit(functools.partial(self._committed, key_id, wrapped))
            return row
        raise KeyringError(f"could not make a new {kind} key")

    def _committed(self, key_id: str, wrapped: bytes) -> None:
        with self._lock:
            if self._uncommitted.get(key_id) == wrapped:
                del self._uncommitted[key_id]

    def new_active_key(self, kind: str = DataKey.Kind.DATA) -> str:
        """Make a new active key of ``kind``, retiring the current one (rotation)."""
        row = self._create(kind, retire_active=True)
        self._remember(row)
        with self._lock:
            self._active[kind] = (row.key_id, time.monotonic())
        return row.key_id

    # -- data encryption -----------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, associated_data: bytes) -> str:
        key_id = self.active_key_id(DataKey.Kind.DATA)
        loaded = self._load(key_id)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = loaded.aead.encrypt(nonce, plaintext, associated_data)
        self._count(key_id)
        return f"{TOKEN_VERSION}:{key_id}:{_b64(nonce)}:{_b64(ciphertext)}"

    def decrypt(self, text: str, associated_data: bytes) -> bytes:
        token = Token.parse(text)
        try:
            return self._load(token.key_id).aead.decrypt(token.nonce, token.ciphertext, associated_data)
        except InvalidTag:
            pass
        # A key cached from a rolled-back transaction may since have been replaced: reload once.
        try:
            return self._load(token.key_id, reload=True).aead.decrypt(
                token.nonce, token.ciphertext, associated_data
            )
        except InvalidTag:
            raise DecryptionError(
                f"the value does not decrypt under key {token.key_id} for this table, column and row: "
                "it was copied from another row or column, or altered"
            ) from None

    # -- blind-index key -----------------------------------------------------------------------
    def index_key(self) -> tuple[str, bytes]:
        key_id = self.active_key_id(DataKey.Kind.INDEX)
        return key_id, self._load(key_id).material

    def index_key_material(self, key_id: str) -> bytes:
        return self._load(key_id).material

    def live_index_key_ids(self) -> list[str]:
        """Index keys not destroyed, the active one first."""
        active = self.active_key_id(DataKey.Kind.INDEX)
        others = (
            DataKey.objects.filter(kind=DataKey.Kind.INDEX)
            .exclude(status=DataKey.Status.DESTROYED)
            .exclude(key_id=active)
            .order_by("-created_at")
            .values_list("key_id", flat=True)
        )
        return [active, *others]

    # -- counting (NIST SP 800-38D) ------------------------------------------------------------
    def _count(self, key_id: str) -> None:
        with self._lock:
            pending = self._pending[key_id] = self._pending.get(key_id, 0) + 1
            total = self._known.get(key_id, 0) + pending
            due = total >= settings.FINCRM_KEY_ROTATE_AFTER_ENCRYPTIONS
            if due:
                self._rotation_due = True
            if not (due or pending >= settings.FINCRM_KEY_COUNTER_FLUSH_EVERY):
                return
            connection = transaction.get_connection()
            if connection.in_atomic_block:
                if self._scheduled_in is connection.run_on_commit:
                    return
                self._scheduled_in = connection.run_on_commit
        # Never inside the caller's transaction: the key row's lock would serialize every writer.
        transaction.on_commit(self._after_commit)

    def _after_commit(self) -> None:
        with self._lock:
            self._scheduled_in = None
        self.flush()
        if self._rotation_due:
            self.rotate_if_due()

    def pending(self, key_id: str) -> int:
        with self._lock:
            return self._pending.get(key_id, 0)

    def flush(self) -> None:
        """Write counted encryptions to their key rows (``encryptions = encryptions + n``)."""
        with self._lock:
            pending = {key_id: count for key_id, count in self._pending.items() if count}
            self._pending.clear()
        if not pending:
            return
        for key_id, count in pending.items():
            DataKey.objects.filter(key_id=key_id).update(encryptions=F("encryptions") + count)
        fresh = DataKey.objects.filter(key_id__in=list(pending)).values_list("key_id", "encryptions")
        with self._lock:
            for key_id, encryptions in fresh:
                self._known[key_id] = encryptions
                if (
                    encryptions >= settings.FINCRM_KEY_ROTATE_AFTER_ENCRYPTIONS
                    and self._active.get(DataKey.Kind.DATA, ("",))[0] == key_id
                ):
                    self._rotation_due = True

    def rotate_if_due(self) -> str | None:
        """Make a new active data key when the active one passed the threshold; returns its id."""
        from fincrm.platform import hooks
        from fincrm.platform.actor import Actor

        with self._lock:
            self._rotation_due = False
        threshold = settings.FINCRM_KEY_ROTATE_AFTER_ENCRYPTIONS
        with transaction.atomic():
            current = (
                DataKey.objects.select_for_update()
                .filter(kind=DataKey.Kind.DATA, status=DataKey.Status.ACTIVE)
                .first()
            )
            if current is None:
                return None
            used = current.encryptions + self.pending(current.key_id)
            if used < threshold:
                with self._lock:
                    self._active.pop(DataKey.Kind.DATA, None)
                return None
            new_id = self.new_active_key(DataKey.Kind.DATA)
            hooks.audit_recorder()(
                Actor.system("keyring"),
                "keys.rotated",
                object_type="data_key",
                object_id=new_id,
                before={"active_key": current.key_id, "encryptions": used},
                after={"active_key": new_id},
                reason=f"automatic: key {current.key_id} reached {threshold} encryptions",
            )
        return new_id


keyring = Keyring()


def flush_at_exit() -> None:
    """Write the last counted encryptions when the process ends (best effort)."""
    with contextlib.suppress(Exception):  # the process is ending; the database may be gone
        keyring.flush()
