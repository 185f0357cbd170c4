"""TOTP secrets move into an encrypted field bound to a new immutable row id.

Existing rows get a row id each, then their clear secrets are encrypted in place (the keyring's
active data key; the master key must be configured). Reversible: going back decrypts them.
"""

import uuid

from django.db import migrations, models
from django.db.models import Value

import fincrm.security.fields


def fill_row_uids(apps, schema_editor):
    MfaDevice = apps.get_model("users", "MfaDevice")
    for pk in MfaDevice.objects.filter(row_uid__isnull=True).values_list("pk", flat=True):
        MfaDevice.objects.filter(pk=pk).update(row_uid=uuid.uuid4())


def encrypt_secrets(apps, schema_editor):
    from fincrm.security.fields import Ciphertext
    from fincrm.security.keyring import DecryptionError

    MfaDevice = apps.get_model("users", "MfaDevice")
    field = MfaDevice._meta.get_field("secret")
    for pk, row_uid, stored in MfaDevice.objects.values_list("pk", "row_uid", "secret"):
        if stored is None:
            continue
        try:
            field.decrypt_for(row_uid, stored.token)
            continue  # already encrypted (a re-run)
        except DecryptionError:
            pass
        token = field.encrypt_for(row_uid, stored.token)
        MfaDevice.objects.filter(pk=pk).update(secret=Ciphertext(token))


def decrypt_secrets(apps, schema_editor):
    MfaDevice = apps.get_model("users", "MfaDevice")
    field = MfaDevice._meta.get_field("secret")
    for pk, row_uid, stored in MfaDevice.objects.values_list("pk", "row_uid", "secret"):
        if stored is None:
            continue
        secret = field.decrypt_for(row_uid, stored.token)
        MfaDevice.objects.filter(pk=pk).update(secret=Value(secret, output_field=models.TextField()))


class Migration(migrations.Migration):
    dependencies = [
        ("security", "0001_initial"),
        ("users", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="mfadevice",
            name="row_uid",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(fill_row_uids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="mfadevice",
            name="row_uid",
            field=fincrm.security.fields.RowUidField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name="mfadevice",
            name="secret",
            field=fincrm.security.fields.EncryptedTextField(),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
    ]
