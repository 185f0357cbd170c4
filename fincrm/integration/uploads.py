"""Uploaded import files, encrypted at rest until the import has run (then deleted).

A file is stored at ``FINCRM_DATA_DIR/imports/<batch id>.enc`` (mode 0600), written as it streams
in: its clear bytes are cut into chunks of ``CHUNK_BYTES`` and each chunk is sealed on its own with
the keyring's active data key (AES-256-GCM). The associated data binds the batch id, the chunk's
index and whether it is the last chunk, so a file moved to another batch, chunks reordered, a chunk
altered, or the file cut short (even at a chunk boundary) fails to decrypt instead of importing
something else. Memory stays bounded by the chunk size, writing and reading.

Layout: ``MAGIC``, the chunk size (4 bytes, big-endian), then one record per chunk: the token length
(4 bytes), the last-chunk flag (1 byte), the clear length (4 bytes) and the keyring token (ASCII).
The record headers are not secret; every one of them is checked against what decrypts.

:func:`upload_open` gives a read-only, seekable file object that decrypts one chunk at a time
(openpyxl needs to seek; CSV is read straight through).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from fincrm.integration.readers import FileRejected
from fincrm.security.keyring import DecryptionError, keyring

CHUNK_BYTES = 1024 * 1024
MAGIC = b"FINCRM-UPLOAD-1\n"
FOLDER = "imports"
_SIZE = struct.Struct(">I")
_RECORD = struct.Struct(">IBI")  # token length, last-chunk flag, clear length


class UploadDamaged(Exception):
    """A stored upload does not decrypt: altered, truncated, reordered or from another batch."""


@dataclass(frozen=True)
class StoredUpload:
    path: str  # relative to FINCRM_DATA_DIR
    size: int  # clear bytes
    sha256: str  # of the clear bytes


def _data_dir() -> Path:
    return Path(settings.FINCRM_DATA_DIR)


def _aad(batch_id: uuid.UUID | str, index: int, last: bool) -> bytes:
    batch = batch_id if isinstance(batch_id, uuid.UUID) else uuid.UUID(str(batch_id))
    return b"fincrm:import-upload:" + batch.bytes + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def _too_large(max_bytes: int) -> FileRejected:
    return FileRejected(
        "too_large",
        _("The file is larger than %(limit)s MB, the largest an import accepts."),
        limit=max(1, max_bytes // (1024 * 1024)),
    )


def upload_store(batch_id: uuid.UUID, chunks: Iterable[bytes], *, max_bytes: int) -> StoredUpload:
    """Encrypt ``chunks`` (any sizes) to the batch's file; over ``max_bytes`` nothing is kept."""
    folder = _data_dir() / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    relative = f"{FOLDER}/{batch_id}.enc"
    final = _data_dir() / relative
    partial = folder / f"{batch_id}.enc.part"
    digest = hashlib.sha256()
    size = 0
    index = 0
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(MAGIC + _SIZE.pack(CHUNK_BYTES))

            def seal(clear: bytes, last: bool) -> None:
                nonlocal index
                token = keyring.encrypt(clear, _aad(batch_id, index, last)).encode("ascii")
                handle.write(_RECORD.pack(len(token), int(last), len(clear)) + token)
                index += 1

            buffer = bytearray()
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                digest.update(chunk)
                buffer += chunk
                # Keep at least one byte back: the last chunk must be sealed as the last one.
                while len(buffer) > CHUNK_BYTES:
                    seal(bytes(buffer[:CHUNK_BYTES]), last=False)
                    del buffer[:CHUNK_BYTES]
            seal(bytes(buffer), last=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return StoredUpload(path=relative, size=size, sha256=digest.hexdigest())


def _resolve(path: str) -> Path:
    base = (_data_dir() / FOLDER).resolve()
    full = (_data_dir() / path).resolve()
    if full.parent != base:
        raise UploadDamaged(f"{path} is not an upload")
    return full


class _DecryptingReader(io.RawIOBase):
    """Reads a stored upload's clear bytes, decrypting one chunk at a time; seekable."""

    def __init__(self, full: Path, batch_id: uuid.UUID | str) -> None:
        super().__init__()
        self._batch_id = batch_id
        self._file = open(full, "rb")  # noqa: SIM115 - closed by close()
        try:
            self._index_records()
        except BaseException:
            self._file.close()
            raise
        self._position = 0
        self._cached: tuple[int, bytes] | None = None

    def _damaged(self, why: str) -> UploadDamaged:
        return UploadDamaged(f"the stored upload of batch {self._batch_id} is damaged: {why}")

    def _index_records(self) -> None:
        head = self._file.read(len(MAGIC) + _SIZE.size)
        if len(head) != len(MAGIC) + _SIZE.size or not head.startswith(MAGIC):
            raise self._damaged("not an upload file")
        (chunk_bytes,) = _SIZE.unpack(head[len(MAGIC) :])
        # (offset of the token, token length, clear length) per chunk.
        self._records: list[tuple[int, int, int]] = []
        offset = len(head)
        end = os.fstat(self._file.fileno()).st_size
        last = False
        while offset < end:
            if last:
                raise self._damaged("data after the last chunk")
            self._file.seek(offset)
            header = self._file.read(_RECORD.size)
            if len(header) != _RECORD.size:
                raise self._damaged("a chunk header is cut short")
            token_length, flag, clear_length = _RECORD.unpack(header)
            last = flag == 1
            if flag not in (0, 1) or clear_length > chunk_bytes or (not last and clear_length != chunk_bytes):
                raise self._damaged("a chunk header is not valid")
            offset += _RECORD.size
            if offset + token_length > end:
                raise self._damaged("a chunk is cut short")
            self._records.append((offset, token_length, clear_length))
            offset += token_length
        if not last:
            raise self._damaged("the last chunk is missing")
        self._chunk_bytes = chunk_bytes
        self._size = sum(record[2] for record in self._records)

    def _chunk(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        offset, token_length, clear_length = self._records[index]
        self._file.seek(offset)
        token = self._file.read(token_length)
        last = index == len(self._records) - 1
        try:
            clear = keyring.decrypt(token.decode("ascii"), _aad(self._batch_id, index, last))
        except (DecryptionError, UnicodeDecodeError):
            raise self._damaged(f"chunk {index} does not decrypt") from None
        if len(clear) != clear_length:
            raise self._damaged(f"chunk {index} has the wrong length")
        self._cached = (index, clear)
        return clear

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._position >= self._size:
            return 0
        index, within = divmod(self._position, self._chunk_bytes)
        clear = self._chunk(index)
        piece = clear[within : within + len(buffer)]
        view = memoryview(buffer).cast("B")
        view[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self._cached = None
        super().close()


def upload_open(path: str, batch_id: uuid.UUID | str) -> BinaryIO:
    """The stored upload's clear bytes as a read-only, seekable, streaming file object.

    Raises :class:`UploadDamaged` when the file is not an intact upload of this batch (a chunk that
    was altered is found when it is read).
    """
    full = _resolve(path)
    if not full.is_file():
        raise UploadDamaged(f"the stored upload of batch {batch_id} is gone")
    raw = _DecryptingReader(full, batch_id)
    return cast(BinaryIO, io.BufferedReader(raw, buffer_size=256 * 1024))


def upload_delete(path: str) -> None:
    """Delete a stored upload (and any half-written one); nothing happens when it is gone."""
    if not path:
        return
    full = _resolve(path)
    for candidate in (full, full.with_name(full.name + ".part")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
