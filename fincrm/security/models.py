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


class SensitiveAccessGrant(models.Model):
    """Break-glass: a user without the standing unmask permission asks to see some identifiers of
    one customer; another person approves or refuses; an approved grant expires.

    The customer number as typed is never stored in clear: only its blind index (purpose "text")
    and a masked form. ``customer`` is null when the number matched no customer the requester may
    see; such a grant can never be approved (docs/security-masking.md)."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")
        EXPIRED = "expired", _("Expired")

    requester = models.ForeignKey(
        "users.User", verbose_name=_("requester"), on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    number_bidx = models.CharField(max_length=80, db_index=True, editable=False)
    number_masked = models.CharField(_("customer number (masked)"), max_length=40)
    # Keys of fincrm.security.unmask.UNMASKABLE ("mobile", "id_number" ...).
    fields = models.JSONField(_("fields"), default=list)
    reason_code = models.CharField(_("reason"), max_length=32)
    reason_text = models.TextField(_("details"), max_length=500)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.REQUESTED)
    requested_at = models.DateTimeField(_("requested at"))
    approver = models.ForeignKey(
        "users.User",
        verbose_name=_("approver"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("note"), max_length=500, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    uses = models.PositiveIntegerField(_("uses"), default=0)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [
            models.Index(fields=["requester", "status"], name="security_grant_requester"),
            models.Index(fields=["status", "expires_at"], name="security_grant_expiry"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(approver=models.F("requester")), name="security_grant_not_own_approval"
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | (Q(customer__isnull=False) & Q(expires_at__isnull=False)),
                name="security_grant_approved_has_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"grant {self.pk} ({self.status})"
