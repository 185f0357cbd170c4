"""Data keys, stored wrapped by the master key (docs/security-keys.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class DataKey(models.Model):
    """A 256-bit key, stored only wrapped (AES-256-GCM under the master key, the key id as
    associated data). ``data`` keys encrypt field values; ``index`` keys compute blind indexes."""

    class Kind(models.TextChoices):
        DATA = "data", _("Data key")
        INDEX = "index", _("Blind-index key")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired (decrypts, never encrypts)")
        DESTROYED = "destroyed", _("Destroyed")

    key_id = models.CharField(max_length=16, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    # Wrapped key material: 12-byte nonce + ciphertext + tag. Emptied when destroyed.
    wrapped = models.BinaryField(default=b"")
    # Which master key wrapped it (a fingerprint, never the key): shows when a rewrap is due.
    master_fingerprint = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)
    # Encryptions made with this key (NIST SP 800-38D: at most 2**32 with random nonces).
    encryptions = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["kind", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(status="active"), name="security_one_active_key_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key_id} ({self.kind}, {self.status})"
