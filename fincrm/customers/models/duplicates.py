"""Duplicate candidates (same ID number, or same mobile with a similar name) and completed merges."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from fincrm.platform.models import TimestampedModel


class DuplicateCandidate(TimestampedModel):
    class Reason(models.TextChoices):
        SAME_ID_NUMBER = "same_id_number", _("Same ID number")
        SAME_MOBILE_SIMILAR_NAME = "same_mobile", _("Same mobile number and a similar name")
        HELD_FOR_REVIEW = "held_for_review", _("Created with an identity that already exists")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        MERGED = "merged", _("Merged")
        DISMISSED = "dismissed", _("Not a duplicate")

    # The lower id first, so a pair is recorded once.
    first = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.CharField(_("resolved by"), max_length=150, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("duplicate candidate")
        verbose_name_plural = _("duplicate candidates")
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="duplicate_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(first__lt=models.F("second")), name="duplicate_pair_ordered"
            ),
        ]
        indexes = [models.Index(fields=["status", "reason"], name="duplicate_status")]

    def __str__(self) -> str:
        return f"{self.first_id}~{self.second_id}"


class MergeRecord(TimestampedModel):
    """A completed merge: which customer survived, which was absorbed, the field choices, moved rows."""

    survivor = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="merges_survived"
    )
    absorbed = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="merges_absorbed"
    )
    field_choices = models.JSONField(default=dict)  # field -> "survivor" | "absorbed"
    moved = models.JSONField(default=dict)  # table -> row count
    merged_by = models.CharField(_("merged by"), max_length=150)
    reason = models.CharField(_("reason"), max_length=500)

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")

    def __str__(self) -> str:
        return f"{self.absorbed_id}->{self.survivor_id}"
