"""Reads of the integration app: import batches (each visible only to its creator), their issues,
and the mapping templates every importer shares."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import translation

from fincrm.integration.entities import ENTITIES
from fincrm.integration.models import ImportBatch, ImportIssue, ImportTemplate
from fincrm.platform.access import access_object, require_permission
from fincrm.platform.actor import Actor

IMPORT = "data.import"
# The report a page shows; the CSV download and the API carry every issue.
ISSUES_SHOWN = 200


def _mine(actor: Actor) -> QuerySet[ImportBatch]:
    if actor.user_id is None or not actor.can(IMPORT):
        return ImportBatch.objects.none()
    return ImportBatch.objects.filter(created_by_id=actor.user_id)


def import_batch_list(*, actor: Actor) -> QuerySet[ImportBatch]:
    """The actor's own imports, newest first."""
    require_permission(actor, IMPORT)
    return _mine(actor).select_related("template").order_by("-created_at", "-id")


def access_import_batch(actor: Actor, batch_id: object, *, for_update: bool = False) -> ImportBatch:
    """One of the actor's own batches; anybody else's (or none) is the same not-found."""
    batches = _mine(actor)
    if actor.is_operator:
        batches = ImportBatch.objects.all()  # the command line runs the batches it creates
    if for_update:
        batches = batches.select_for_update()
    return access_object(batches, batch_id, actor=actor, action=IMPORT, object_type="import_batch")


def import_issue_list(*, actor: Actor, batch_id: object) -> QuerySet[ImportIssue]:
    """A batch's issues in file order (row, then as found)."""
    batch = access_import_batch(actor, batch_id)
    return ImportIssue.objects.filter(batch=batch).order_by("row_number", "id")


def import_template_list(*, actor: Actor, entity: str | None = None) -> QuerySet[ImportTemplate]:
    """Every template (they hold no personal data), by kind of data and name."""
    require_permission(actor, IMPORT)
    templates = ImportTemplate.objects.select_related("created_by").order_by("entity", "name")
    return templates.filter(entity=entity) if entity else templates


def access_import_template(
    actor: Actor, template_id: object, *, own: bool = False, for_update: bool = False
) -> ImportTemplate:
    """A template to use (any), or with ``own`` to change (only one the actor created)."""
    templates = ImportTemplate.objects.all() if actor.can(IMPORT) else ImportTemplate.objects.none()
    if own:
        templates = templates.filter(created_by_id=actor.user_id)
    if for_update:
        templates = templates.select_for_update()
    return access_object(templates, template_id, actor=actor, action=IMPORT, object_type="import_template")


def import_template_by_name(actor: Actor, name: str) -> ImportTemplate:
    """A template by its name (the API and the command line name templates)."""
    require_permission(actor, IMPORT)
    found = ImportTemplate.objects.filter(name=str(name or "").strip()).values_list("pk", flat=True).first()
    return access_import_template(actor, found if found is not None else f"name:{name}"[:100])


def _norm(text: object) -> str:
    return "".join(str(text).split()).casefold()


def suggest_mapping(entity: str, header: list[str]) -> dict[str, str]:
    """{field: column} for every field whose column is named like it: the field's name, or its
    label in Chinese or English (spaces and case ignored)."""
    columns = {_norm(column): column for column in header}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for spec in ENTITIES[entity].fields:
        names = [spec.name]
        for language in ("zh-hans", "en"):
            with translation.override(language):
                names.append(str(spec.label))
        for name in names:
            column = columns.get(_norm(name))
            if column is not None and column not in taken:
                mapping[spec.name] = column
                taken.add(column)
                break
    return mapping
