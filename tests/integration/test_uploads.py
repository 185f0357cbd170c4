"""Uploaded import files: encrypted at rest in chunks, tamper-evident, private, bounded."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from fincrm.integration import uploads
from fincrm.integration.readers import FileRejected
from fincrm.integration.uploads import CHUNK_BYTES, UploadDamaged, upload_delete, upload_open, upload_store

MARKER = b"MARKER-110105194912310021-MARKER"


@pytest.fixture
def data_dir(settings, tmp_path: Path, db: None) -> Path:
    settings.FINCRM_DATA_DIR = tmp_path
    return tmp_path


def _content(size: int) -> bytes:
    """Recognizable clear bytes: the marker repeated, then cut to ``size``."""
    return (MARKER + b"\n") * (size // (len(MARKER) + 1) + 1)


def _pieces(data: bytes, size: int = 65_536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _store(data: bytes, batch_id: uuid.UUID | None = None) -> tuple[uuid.UUID, uploads.StoredUpload]:
    batch_id = batch_id or uuid.uuid4()
    return batch_id, upload_store(batch_id, _pieces(data), max_bytes=64 * CHUNK_BYTES)


def _read(path: str, batch_id: uuid.UUID) -> bytes:
    with upload_open(path, batch_id) as stream:
        return stream.read()


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES, 2 * CHUNK_BYTES + 12345]
)
def test_round_trip_gives_the_same_bytes_size_and_digest(data_dir: Path, size: int) -> None:
    data = _content(size)[:size]
    batch_id, stored = _store(data)
    assert stored.path == f"imports/{batch_id}.enc"
    assert stored.size == size
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert _read(stored.path, batch_id) == data


def test_reads_in_small_pieces_and_seeks_like_a_file(data_dir: Path) -> None:
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 7)
    batch_id, stored = _store(data)
    with upload_open(stored.path, batch_id) as stream:
        assert stream.seekable()
        assert stream.read(10) == data[:10]
        stream.seek(CHUNK_BYTES - 3)
        assert stream.read(6) == data[CHUNK_BYTES - 3 : CHUNK_BYTES + 3]
        assert stream.seek(-5, os.SEEK_END) == len(data) - 5
        assert stream.read() == data[-5:]
        assert stream.read() == b""
        stream.seek(0)
        pieces = []
        while piece := stream.read(4093):
            pieces.append(piece)
        assert b"".join(pieces) == data


def test_clear_bytes_never_reach_the_disk(data_dir: Path) -> None:
    data = _content(3 * CHUNK_BYTES)
    _batch_id, stored = _store(data)
    for path in data_dir.rglob("*"):
        if path.is_file():
            stored_bytes = path.read_bytes()
            assert MARKER not in stored_bytes
            assert b"110105194912310021" not in stored_bytes
    assert [p.name for p in (data_dir / "imports").iterdir()] == [Path(stored.path).name]


def test_the_file_and_its_folder_are_private(data_dir: Path) -> None:
    _batch_id, stored = _store(b"a,b\n1,2\n")
    assert stat.S_IMODE((data_dir / stored.path).stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "imports").stat().st_mode) & 0o077 == 0


def _damage_and_read(data_dir: Path, damage: Callable[[bytes], bytes]) -> None:
    data = _content(3 * CHUNK_BYTES + 100)
    batch_id, stored = _store(data)
    path = data_dir / stored.path
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UploadDamaged):
        _read(stored.path, batch_id)


def _records(blob: bytes) -> list[tuple[int, int]]:
    """(start, end) of every chunk record in a stored file."""
    offset = len(uploads.MAGIC) + 4
    spans = []
    while offset < len(blob):
        token_length, _flag, _clear = uploads._RECORD.unpack(blob[offset : offset + uploads._RECORD.size])
        end = offset + uploads._RECORD.size + token_length
        spans.append((offset, end))
        offset = end
    return spans


def test_a_flipped_byte_is_detected(data_dir: Path) -> None:
    def flip(blob: bytes) -> bytes:
        start, end = _records(blob)[1]
        middle = (start + end) // 2
        # Change one base64 character of the ciphertext to another valid one.
        replacement = b"A" if blob[middle : middle + 1] != b"A" else b"B"
        return blob[:middle] + replacement + blob[middle + 1 :]

    _damage_and_read(data_dir, flip)


def test_a_truncated_file_is_detected(data_dir: Path) -> None:
    _damage_and_read(data_dir, lambda blob: blob[: len(blob) - 1000])


def test_a_dropped_last_chunk_is_detected(data_dir: Path) -> None:
    _damage_and_read(data_dir, lambda blob: blob[: _records(blob)[-1][0]])


def test_a_dropped_last_chunk_with_a_forged_last_flag_is_detected(data_dir: Path) -> None:
    def forge(blob: bytes) -> bytes:
        start, _end = _records(blob)[-2]
        cut = bytearray(blob[: _records(blob)[-1][0]])
        cut[start + 4] = 1  # the last-chunk flag of the chunk before
        return bytes(cut)

    _damage_and_read(data_dir, forge)


def test_swapped_chunks_are_detected(data_dir: Path) -> None:
    def swap(blob: bytes) -> bytes:
        spans = _records(blob)
        (a0, a1), (b0, b1) = spans[0], spans[1]
        return blob[:a0] + blob[b0:b1] + blob[a0:a1] + blob[b1:]

    _damage_and_read(data_dir, swap)


def test_a_file_of_another_batch_does_not_decrypt(data_dir: Path) -> None:
    _batch_id, stored = _store(b"a,b\n1,2\n")
    with pytest.raises(UploadDamaged):
        _read(stored.path, uuid.uuid4())


def test_over_the_cap_nothing_is_kept(data_dir: Path) -> None:
    batch_id = uuid.uuid4()
    with pytest.raises(FileRejected) as caught:
        upload_store(batch_id, _pieces(b"x" * 5000, 1000), max_bytes=4096)
    assert caught.value.code == "too_large"
    assert caught.value.message
    assert list((data_dir / "imports").iterdir()) == []


def test_delete_is_idempotent_and_refuses_paths_outside_the_folder(data_dir: Path) -> None:
    batch_id, stored = _store(b"a,b\n1,2\n")
    upload_delete(stored.path)
    upload_delete(stored.path)
    assert not (data_dir / stored.path).exists()
    with pytest.raises(UploadDamaged):
        upload_open(stored.path, batch_id)
    (data_dir / "master.key").write_text("secret")
    with pytest.raises(UploadDamaged):
        upload_delete("imports/../master.key")
    assert (data_dir / "master.key").exists()
