"""Custom fields administrators define per customer type, each declaring its data class.

A value lives in the column of its type; a C2 value is encrypted with a blind index, so it can be
filtered by exact value only.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from fincrm.platform.models import TimestampedModel
from fincrm.security.fields import BlindIndexField, EncryptedTextField, RowUidMixin


class CustomFieldDefinition(TimestampedModel):
    class FieldType(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Whole number")
        DECIMAL = "decimal", _("Decimal")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")
        MULTI_CHOICE = "multi_choice", _("Multiple choice")
        BOOLEAN = "boolean", _("Yes / no")

    class AppliesTo(models.TextChoices):
        ALL = "all", _("All customers")
        INDIVIDUAL = "individual", _("Individuals")
        CORPORATE = "corporate", _("Corporates")

    class DataClass(models.TextChoices):
        C1 = "C1", _("C1 (internal)")
        C2 = "C2", _("C2 (personal financial information, encrypted)")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    label = models.CharField(_("label"), max_length=100)
    label_en = models.CharField(_("English label"), max_length=100, blank=True)
    field_type = models.CharField(_("type"), max_length=12, choices=FieldType.choices)
    applies_to = models.CharField(_("applies to"), max_length=10, choices=AppliesTo.choices, default="all")
    data_class = models.CharField(_("data class"), max_length=2, choices=DataClass.choices, default="C1")
    # [{"value": "gold", "label": "黄金", "label_en": "Gold"}, …] for choice and multi-choice fields
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "code"]
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")

    def __str__(self) -> str:
        return self.code


class CustomFieldValue(RowUidMixin, models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="custom_values")
    definition = models.ForeignKey(CustomFieldDefinition, on_delete=models.CASCADE, related_name="values")
    text_value = models.CharField(max_length=500, blank=True)
    number_value = models.BigIntegerField(null=True, blank=True)
    decimal_value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    date_value = models.DateField(null=True, blank=True)
    bool_value = models.BooleanField(null=True, blank=True)
    choice_values = models.JSONField(default=list, blank=True)
    secret_value = EncryptedTextField(null=True, blank=True)
    secret_value_bidx = BlindIndexField(source="secret_value", purpose="text")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "definition"], name="custom_value_unique"),
        ]
        indexes = [
            models.Index(fields=["definition", "text_value"], name="custom_value_text"),
            models.Index(fields=["definition", "number_value"], name="custom_value_number"),
            models.Index(fields=["definition", "decimal_value"], name="custom_value_decimal"),
            models.Index(fields=["definition", "date_value"], name="custom_value_date"),
        ]

    def __str__(self) -> str:
        return f"{self.definition_id}@{self.customer_id}"
