"""Tags with a colour and a group, attached to customers."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from fincrm.platform.models import TimestampedModel


class Tag(TimestampedModel):
    class Colour(models.TextChoices):
        BLUE = "blue", _("Blue")
        GREEN = "green", _("Green")
        RED = "red", _("Red")
        ORANGE = "orange", _("Orange")
        PURPLE = "purple", _("Purple")
        GREY = "grey", _("Grey")

    label = models.CharField(_("tag"), max_length=50, unique=True)
    colour = models.CharField(_("colour"), max_length=10, choices=Colour.choices, default=Colour.BLUE)
    group = models.CharField(_("group"), max_length=50, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["group", "label"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.label


class CustomerTag(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="customer_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_tags")
    tagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_unique")]
        indexes = [models.Index(fields=["tag", "customer"], name="customer_tag_by_tag")]

    def __str__(self) -> str:
        return f"{self.tag_id}@{self.customer_id}"
