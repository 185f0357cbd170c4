from __future__ import annotations

import base64
import importlib
import io
import os
from pathlib import Path

import pyotp
import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from fincrm.audit.models import AuditEvent
from fincrm.platform.actor import Actor
from fincrm.security import services
from fincrm.security.keyring import (
    AesGcmMasterKey,
    MasterKeyError,
    configured_provider,
    file_master_key,
    keyring,
    write_key_file,
)
from fincrm.security.models import DataKey
from fincrm.users.models import MfaDevice
from tests.security.models import Secretive
from tests.support.world import World

pytestmark = pytest.mark.django_db

ID_NUMBER = "11010519491231002X"


def make(count: int) -> list[Secretive]:
    return Secretive.objects.bulk_create(
        [Secretive(id_number=f"{ID_NUMBER}{i}", mobile=f"1380013{i:04d}") for i in range(count)]
    )


def raw(column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM security_tests_secretive WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_keys_are_stored_wrapped_and_bound_to_their_id(secretive: type[Secretive]) -> None:
    make(1)
    key = DataKey.objects.get(kind=DataKey.Kind.DATA)
    assert key.key_id == "k1"
    assert key.status == DataKey.Status.ACTIVE
    assert len(bytes(key.wrapped)) == 12 + 32 + 16
    material = keyring.provider.unwrap("k1", bytes(key.wrapped))
    assert len(material) == 32
    assert bytes(material) not in bytes(key.wrapped)
    with pytest.raises(MasterKeyError, match="cannot unwrap key k2"):
        keyring.provider.unwrap("k2", bytes(key.wrapped))  # the key id is associated data
    assert DataKey.objects.get(kind=DataKey.Kind.INDEX).key_id == "i1"


def test_a_wrong_master_key_reads_nothing(secretive: type[Secretive]) -> None:
    record = make(1)[0]
    keyring.use_provider(AesGcmMasterKey(os.urandom(32), "a wrong key"))
    with pytest.raises(MasterKeyError, match="a wrong key cannot unwrap key k1"):
        _ = Secretive.objects.get(pk=record.pk).id_number
    keyring.use_provider(None)
    assert Secretive.objects.get(pk=record.pk).id_number == f"{ID_NUMBER}0"


def test_master_key_sources(settings, tmp_path: Path) -> None:
    settings.FINCRM_MASTER_KEY = ""
    settings.FINCRM_MASTER_KEY_FILE = ""
    settings.FINCRM_PROFILE = "production"
    with pytest.raises(MasterKeyError, match="no master key"):
        configured_provider()
    settings.FINCRM_PROFILE = "test"
    assert configured_provider().description == "the fixed test key"
    settings.FINCRM_MASTER_KEY = "c2hvcnQ="
    with pytest.raises(MasterKeyError, match="32 bytes"):
        configured_provider()
    key = base64.b64encode(os.urandom(32)).decode()
    settings.FINCRM_MASTER_KEY = key
    assert configured_provider().description == "the environment (FINCRM_MASTER_KEY)"
    settings.FINCRM_MASTER_KEY = ""
    path = tmp_path / "master.key"
    path.write_text(key)
    path.chmod(0o644)
    settings.FINCRM_MASTER_KEY_FILE = str(path)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        configured_provider()
    path.chmod(0o600)
    assert configured_provider().fingerprint == AesGcmMasterKey(base64.b64decode(key), "x").fingerprint
    # Development makes a private key file in the data folder on first use.
    settings.FINCRM_MASTER_KEY_FILE = ""
    settings.FINCRM_PROFILE = "development"
    settings.FINCRM_DATA_DIR = tmp_path / "data"
    first = configured_provider()
    made = tmp_path / "data" / "master.key"
    assert made.stat().st_mode & 0o777 == 0o600
    assert configured_provider().fingerprint == first.fingerprint
    with pytest.raises(FileExistsError):
        write_key_file(made)


def test_rotation_reencrypts_everything_and_resumes(secretive: type[Secretive]) -> None:
    records = make(25)
    actor = Actor.cli()
    partial = services.key_rotate(actor=actor, batch_size=10, max_batches=2)
    assert partial.key_id == "k2"
    assert partial.new_key is True
    assert partial.reencrypted == 20
    assert partial.remaining == 30  # 25 mobiles + 5 ID numbers still under k1
    assert DataKey.objects.get(key_id="k1").status == DataKey.Status.RETIRED
    # Reads keep working in between: each value names its key.
    assert {record.id_number for record in Secretive.objects.all()} == {r.id_number for r in records}
    with pytest.raises(Exception, match="values still use k1"):
        services.key_retire(actor=actor, key_id="k1")
    resumed = services.key_rotate(actor=actor, batch_size=10)
    assert resumed.key_id == "k2"
    assert resumed.new_key is False
    assert resumed.reencrypted == 30
    assert resumed.remaining == 0
    assert all(raw("id_number", r.pk).startswith("v1:k2:") for r in records)
    assert all(raw("mobile", r.pk).startswith("v1:k2:") for r in records)
    assert sorted(r.mobile for r in Secretive.objects.all()) == sorted(r.mobile for r in records)
    assert services.key_retire(actor=actor) == ["k1"]
    destroyed = DataKey.objects.get(key_id="k1")
    assert destroyed.status == DataKey.Status.DESTROYED
    assert bytes(destroyed.wrapped) == b""
    codes = list(
        AuditEvent.objects.filter(action__startswith="keys.")
        .order_by("pk")
        .values_list("action", "object_id")
    )
    assert codes == [("keys.rotated", "k2"), ("keys.rotated", "k2"), ("keys.retired", "k1")]
    assert AuditEvent.objects.filter(action="keys.rotated").first().actor_label.startswith("cli:")


def test_status_counts_values_per_key_and_column(secretive: type[Secretive]) -> None:
    make(3)
    services.key_rotate(actor=Actor.cli(), batch_size=2, max_batches=1)
    by_key = {status.key_id: status for status in services.key_status()}
    assert by_key["k1"].status == "retired"
    assert by_key["k1"].uses["security_tests.Secretive.id_number"] == 1
    assert by_key["k1"].uses["security_tests.Secretive.mobile"] == 3
    assert by_key["k2"].uses["security_tests.Secretive.id_number"] == 2
    assert by_key["k2"].values == 2
    assert by_key["k1"].encryptions == 6
    assert by_key["k2"].encryptions == 2
    assert by_key["i1"].uses["security_tests.Secretive.mobile_bidx"] == 3
    out = io.StringIO()
    call_command("keys", "status", stdout=out)
    text = out.getvalue()
    assert "k1    data   retired" in text
    assert "security_tests.Secretive.mobile: 3" in text


def test_rotate_command_finishes_and_says_so(secretive: type[Secretive]) -> None:
    make(4)
    out = io.StringIO()
    call_command("keys", "rotate", "--batch", "3", stdout=out, stderr=io.StringIO())
    assert "Active key k2 (new): re-encrypted 8 values" in out.getvalue()
    assert "0 left" in out.getvalue()
    out = io.StringIO()
    call_command("keys", "retire", stdout=out)
    assert out.getvalue().strip() == "Destroyed: k1."


def test_rewrap_keeps_data_readable(secretive: type[Secretive], tmp_path: Path) -> None:
    records = make(3)
    path = tmp_path / "new.key"
    write_key_file(path)
    before = {key.key_id: bytes(key.wrapped) for key in DataKey.objects.all()}
    out = io.StringIO()
    call_command("keys", "rewrap", "--new-key-file", str(path), stdout=out)
    new_master = file_master_key(path)
    assert f"Re-wrapped 2 keys under master key {new_master.fingerprint}" in out.getvalue()
    after = {key.key_id: bytes(key.wrapped) for key in DataKey.objects.all()}
    assert after.keys() == before.keys()
    assert all(after[key_id] != before[key_id] for key_id in after)
    assert set(DataKey.objects.values_list("master_fingerprint", flat=True)) == {new_master.fingerprint}
    assert raw("id_number", records[0].pk).startswith("v1:k1:")  # data untouched
    keyring.use_provider(new_master)
    assert [r.id_number for r in Secretive.objects.order_by("pk")] == [r.id_number for r in records]
    keyring.use_provider(None)  # the old master key no longer unwraps them
    with pytest.raises(MasterKeyError):
        _ = Secretive.objects.get(pk=records[0].pk).id_number
    assert AuditEvent.objects.filter(action="keys.rewrapped").count() == 1


def test_automatic_rotation_at_the_threshold(
    secretive: type[Secretive], settings, django_capture_on_commit_callbacks
) -> None:
    settings.FINCRM_KEY_ROTATE_AFTER_ENCRYPTIONS = 5
    settings.FINCRM_KEY_COUNTER_FLUSH_EVERY = 2
    with django_capture_on_commit_callbacks(execute=True):
        Secretive.objects.create(id_number="1", mobile="2")
    assert DataKey.objects.get(key_id="k1").encryptions == 2
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(3):
            Secretive.objects.create(id_number=str(i))
    k1 = DataKey.objects.get(key_id="k1")
    assert k1.encryptions == 5
    assert k1.status == DataKey.Status.RETIRED
    assert DataKey.objects.get(key_id="k2").status == DataKey.Status.ACTIVE
    record = Secretive.objects.create(id_number="after")
    assert raw("id_number", record.pk).startswith("v1:k2:")
    event = AuditEvent.objects.get(action="keys.rotated")
    assert event.actor_label == "system:keyring"
    assert event.reason == "automatic: key k1 reached 5 encryptions"
    assert {r.id_number for r in Secretive.objects.all()} == {"1", "0", "2", "after"} | {"1"}


def test_index_key_rotation_recomputes_indexes(secretive: type[Secretive]) -> None:
    from fincrm.security.fields import blind_index

    records = make(3)
    old = blind_index(f"{ID_NUMBER}1", "id_number")
    done = services.index_key_rotate(actor=Actor.cli(), batch_size=2)
    assert done == 6
    new = blind_index(f"{ID_NUMBER}1", "id_number")
    assert old.startswith("i1:")
    assert new.startswith("i2:")
    assert [r.pk for r in Secretive.objects.filter(id_number_bidx=new)] == [records[1].pk]


def test_mfa_secrets_are_encrypted(world: World) -> None:
    device = MfaDevice.objects.create(user=world.user("peer_a"), secret=pyotp.random_base32())
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM users_mfadevice WHERE id = %s", [device.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("v1:k")
    assert device.secret not in stored
    assert MfaDevice.objects.get(pk=device.pk).secret == device.secret


def test_the_migration_encrypts_existing_secrets_and_reverses(world: World) -> None:
    migration = importlib.import_module("fincrm.users.migrations.0002_mfa_secret_encrypted")
    device = MfaDevice.objects.create(user=world.user("peer_a"), secret="JBSWY3DPEHPK3PXP")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE users_mfadevice SET secret = %s WHERE id = %s", ["JBSWY3DPEHPK3PXP", device.pk]
        )
    migration.encrypt_secrets(apps, None)
    migration.encrypt_secrets(apps, None)  # a re-run leaves encrypted values alone
    assert MfaDevice.objects.get(pk=device.pk).secret == "JBSWY3DPEHPK3PXP"
    migration.decrypt_secrets(apps, None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM users_mfadevice WHERE id = %s", [device.pk])
        assert cursor.fetchone()[0] == "JBSWY3DPEHPK3PXP"
