from django.db import migrations, models


def add_start_terms(apps, schema_editor):
    """Customers saved before the ``s`` kind existed get their start terms, in batches."""
    from fincrm.customers.search_terms import normalize_name

    Customer = apps.get_model("customers", "Customer")
    Term = apps.get_model("customers", "CustomerSearchTerm")
    batch = []
    for customer_id, name in (
        Customer.objects.order_by("pk").values_list("pk", "name").iterator(chunk_size=2000)
    ):
        text = normalize_name(name)
        for term in {text[:1], text[:2]} - {""}:
            batch.append(Term(customer_id=customer_id, kind="s", term=term))
        if len(batch) >= 2000:
            Term.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    Term.objects.bulk_create(batch, ignore_conflicts=True)


def remove_start_terms(apps, schema_editor):
    apps.get_model("customers", "CustomerSearchTerm").objects.filter(kind="s").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_customers"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="customersearchterm",
            name="customer_search_term",
        ),
        migrations.AlterField(
            model_name="customersearchterm",
            name="kind",
            field=models.CharField(
                choices=[("c", "characters"), ("s", "start of the name"), ("p", "pinyin"), ("i", "initials")],
                max_length=1,
            ),
        ),
        migrations.AddIndex(
            model_name="customersearchterm",
            index=models.Index(
                fields=["kind", "term", "customer"],
                name="customer_search_term",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops", "int8_ops"],
            ),
        ),
        migrations.RunPython(add_start_terms, remove_start_terms),
    ]
