"""The institution's structure: a tree of org units (any depth) and the teams inside them."""

from __future__ import annotations

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from fincrm.platform.actor import Actor, Scope
from fincrm.platform.models import TimestampedModel
from fincrm.platform.scoping import EVERYTHING, ScopedManager

PATH_SEPARATOR = "/"


class OrgUnit(TimestampedModel):
    """A node of the org tree. ``path`` is materialized ("/1/4/9/") so a subtree is one
    indexed prefix predicate."""

    class Kind(models.TextChoices):
        INSTITUTION = "institution", _("Institution")
        BRANCH = "branch", _("Branch")
        SUB_BRANCH = "sub_branch", _("Sub-branch")
        DEPARTMENT = "department", _("Department")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(max_length=255, db_index=True, editable=False)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedManager()

    class Meta:
        ordering = ["path"]
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(kind="institution"), name="org_unit_single_institution"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_condition(cls, scope: Scope, actor: Actor) -> Q:
        if scope == Scope.SUBTREE and actor.org_unit_path:
            return Q(path__startswith=actor.org_unit_path)
        return Q(pk=actor.org_unit_id)

    def is_within(self, other: OrgUnit) -> bool:
        return self.path.startswith(other.path)


def is_root_path(path: str) -> bool:
    """The institution's own path ("/1/"): a subtree there is the whole institution."""
    return path.count(PATH_SEPARATOR) == 2


def subtree_condition(org_unit_field: str, actor: Actor) -> Q:
    """Rows whose ``org_unit_field`` lies in the actor's subtree, as an EXISTS subquery
    (``EVERYTHING`` when the actor sits at the institution's root)."""
    if not actor.org_unit_path:
        return Q(pk__in=[])
    if is_root_path(actor.org_unit_path):
        return EVERYTHING
    units = OrgUnit.objects.filter(pk=OuterRef(org_unit_field), path__startswith=actor.org_unit_path)
    return Q(Exists(units))


class Team(TimestampedModel):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("org unit"), on_delete=models.PROTECT, related_name="teams"
    )
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedManager()

    class Meta:
        ordering = ["code"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_condition(cls, scope: Scope, actor: Actor) -> Q:
        if scope in (Scope.OWN, Scope.TEAM):
            return Q(pk__in=sorted(actor.team_ids))
        if scope == Scope.BRANCH:
            return Q(org_unit_id=actor.org_unit_id)
        return subtree_condition("org_unit_id", actor)
