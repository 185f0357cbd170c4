"""A user's saved customer-list views: filters, sort and columns."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fincrm.platform.models import TimestampedModel


class SavedView(TimestampedModel):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    label = models.CharField(_("view name"), max_length=100)
    filters = models.JSONField(_("filters"), default=dict)
    sort = models.CharField(_("sort"), max_length=40, blank=True)
    columns = models.JSONField(_("columns"), default=list)
    is_default = models.BooleanField(_("default view"), default=False)

    class Meta:
        ordering = ["label"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        constraints = [models.UniqueConstraint(fields=["owner", "label"], name="saved_view_unique_label")]

    def __str__(self) -> str:
        return self.label
