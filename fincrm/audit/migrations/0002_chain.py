"""Turn the audit log into a hash chain: sequence, prev_hash and hash on every event (existing
events are chained in id order) and the one-row chain head."""

from typing import Any

from django.db import migrations, models

from fincrm.audit.chain import GENESIS_HASH, event_hash, fields_of


def chain_existing(apps: Any, schema_editor: Any) -> None:
    event_model = apps.get_model("audit", "AuditEvent")
    head_model = apps.get_model("audit", "AuditChainHead")
    previous = GENESIS_HASH
    sequence = 0
    for event in event_model.objects.using(schema_editor.connection.alias).order_by("id").iterator():
        sequence += 1
        event.sequence = sequence
        event.prev_hash = previous
        event.hash = event_hash(fields_of(event), sequence=sequence, prev_hash=previous)
        event.save(update_fields=["sequence", "prev_hash", "hash"])
        previous = event.hash
    head_model.objects.using(schema_editor.connection.alias).create(pk=1, sequence=sequence, hash=previous)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sequence", models.BigIntegerField()),
                ("hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.AddField(
            model_name="auditevent", name="sequence", field=models.BigIntegerField(null=True)
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="auditevent", name="sequence", field=models.BigIntegerField(unique=True)
        ),
        migrations.AlterModelOptions(name="auditevent", options={"ordering": ["-sequence"]}),
    ]
