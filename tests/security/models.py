"""A test-only model with two encrypted columns and their blind indexes.

Its app label is not installed, so migrations and checks never see it; conftest creates its table."""

from django.db import models

from fincrm.security.fields import BlindIndexField, EncryptedTextField, RowUidMixin


class Secretive(RowUidMixin, models.Model):
    id_number = EncryptedTextField(null=True, blank=True)
    id_number_bidx = BlindIndexField(source="id_number", purpose="id_number")
    mobile = EncryptedTextField(null=True, blank=True)
    mobile_bidx = BlindIndexField(source="mobile", purpose="mobile")
    note = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        app_label = "security_tests"
        db_table = "security_tests_secretive"

    def __str__(self) -> str:
        return f"secretive {self.pk}"
