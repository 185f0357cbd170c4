"""Seed the standard processing purposes (PIPL Art. 13). Names are the institution's data, seeded in
Chinese; pages show the translated standard label while a seeded name is unchanged."""

from django.db import migrations

NOTICE = "2024-01"

# code, name, legal basis, per channel, separate consent, order
PURPOSES = [
    ("kyc", "客户身份识别", "legal_duty", False, False, 10),
    ("aml_monitoring", "反洗钱监测", "legal_duty", False, False, 20),
    ("record_keeping", "交易及身份资料保存", "legal_duty", False, False, 30),
    ("account_service", "账户及产品服务", "contract", False, False, 40),
    ("marketing", "营销信息推送", "consent", True, False, 50),
    ("marketing_profiling", "营销用户画像", "consent", False, False, 60),
    ("group_sharing", "集团内共享", "consent", False, True, 70),
    ("third_party_sharing", "向第三方提供", "consent", False, True, 80),
]


def seed(apps, schema_editor):
    purpose_model = apps.get_model("privacy", "ProcessingPurpose")
    for code, name, basis, per_channel, separate, order in PURPOSES:
        purpose_model.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "legal_basis": basis,
                "per_channel": per_channel,
                "separate_consent": separate,
                "notice_version": NOTICE,
                "sort_order": order,
            },
        )


def unseed(apps, schema_editor):
    purpose_model = apps.get_model("privacy", "ProcessingPurpose")
    purpose_model.objects.filter(code__in=[row[0] for row in PURPOSES], consents__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_consents_and_requests")]

    operations = [migrations.RunPython(seed, unseed)]
