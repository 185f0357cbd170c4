"""Who covers a customer, and the history of coverage and lifecycle changes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SecondaryManager(models.Model):
    """A secondary account manager of a customer (the primary one is ``Customer.primary_manager``)."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="secondary_managers"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="secondary_customers"
    )
    since = models.DateTimeField(_("since"), auto_now_add=True)

    class Meta:
        verbose_name = _("secondary account manager")
        verbose_name_plural = _("secondary account managers")
        constraints = [models.UniqueConstraint(fields=["customer", "user"], name="secondary_manager_unique")]
        indexes = [models.Index(fields=["user", "customer"], name="secondary_manager_user")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.user_id}"


class CoverageChange(models.Model):
    """One transfer of a customer between managers or teams: who, when, why."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="coverage_changes"
    )
    from_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_team = models.ForeignKey(
        "org.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_team = models.ForeignKey("org.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    changed_by = models.CharField(_("changed by"), max_length=150)
    reason = models.CharField(_("reason"), max_length=500)
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("coverage change")
        verbose_name_plural = _("coverage changes")

    def __str__(self) -> str:
        return f"coverage change {self.pk}"


class LifecycleChange(models.Model):
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="lifecycle_changes"
    )
    from_stage = models.CharField(_("from stage"), max_length=10, blank=True)
    to_stage = models.CharField(_("to stage"), max_length=10)
    changed_by = models.CharField(_("changed by"), max_length=150)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("lifecycle change")
        verbose_name_plural = _("lifecycle changes")

    def __str__(self) -> str:
        return f"{self.from_stage}->{self.to_stage}"
