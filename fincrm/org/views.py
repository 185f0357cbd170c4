"""Pages for the org structure: the tree of units, their teams, and the forms that change them."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from fincrm.org import selectors, services
from fincrm.org.forms import (
    OrgUnitCreateForm,
    OrgUnitEditForm,
    OrgUnitMoveForm,
    TeamCreateForm,
    TeamEditForm,
)
from fincrm.org.members import team_members
from fincrm.org.models import OrgUnit
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.views import page, request_actor

VIEW = "org.view"
MANAGE = services.MANAGE

View = Callable[..., HttpResponse]


def _indent(level: int) -> str:
    # Text indentation works at any depth and needs no inline style (strict CSP).
    return "\u2003" * max(level - 1, 0) + ("\u2514\u2002" if level > 0 else "")


def _unit_choices(actor: Actor, *, exclude_path: str | None = None) -> list[tuple[int, str]]:
    """Units the actor may manage, as indented tree labels."""
    return [
        (row.unit.pk, f"{_indent(row.level)}{row.unit.name} ({row.unit.code})")
        for row in selectors.org_tree(actor=actor, action=MANAGE)
        if row.unit.is_active and not (exclude_path and row.unit.path.startswith(exclude_path))
    ]


# ---------------------------------------------------------------- units


@page
@require_http_methods(["GET"])
def unit_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, VIEW)
    rows = [{"unit": row.unit, "indent": _indent(row.level)} for row in selectors.org_tree(actor=actor)]
    return render(request, "org/unit_list.html", {"rows": rows, "can_manage": actor.can(MANAGE)})


@page
@require_http_methods(["GET"])
def unit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    unit = selectors.access_org_unit(actor, pk, VIEW)
    context = {
        "unit": unit,
        "children": selectors.org_unit_children(actor=actor, unit=unit),
        "teams": list(selectors.team_list(actor=actor, org_unit_id=unit.pk)),
        "can_manage": actor.can(MANAGE),
        "is_root": unit.kind == OrgUnit.Kind.INSTITUTION,
    }
    return render(request, "org/unit_detail.html", context)


@page
@require_http_methods(["GET", "POST"])
def unit_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, MANAGE)
    choices = _unit_choices(actor)
    if request.method == "POST":
        form = OrgUnitCreateForm(request.POST, parent_choices=choices)
        if form.is_valid():
            try:
                unit = services.org_unit_create(actor=actor, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Org unit %(name)s created.") % {"name": unit.name})
                return redirect("org:unit-detail", pk=unit.pk)
    else:
        initial = {"parent_id": request.GET.get("parent", "")}
        form = OrgUnitCreateForm(initial=initial, parent_choices=choices)
    return render(request, "org/unit_form.html", {"form": form, "title": _("New org unit"), "unit": None})


@page
@require_http_methods(["GET", "POST"])
def unit_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    unit = selectors.access_org_unit(actor, pk, MANAGE)
    if request.method == "POST":
        form = OrgUnitEditForm(request.POST)
        if form.is_valid():
            try:
                services.org_unit_update(actor=actor, unit_id=unit.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Org unit saved."))
                return redirect("org:unit-detail", pk=unit.pk)
    else:
        form = OrgUnitEditForm(initial={"code": unit.code, "name": unit.name, "is_active": unit.is_active})
    return render(request, "org/unit_form.html", {"form": form, "title": _("Edit org unit"), "unit": unit})


@page
@require_http_methods(["GET", "POST"])
def unit_move(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    unit = selectors.access_org_unit(actor, pk, MANAGE)
    choices = [
        choice for choice in _unit_choices(actor, exclude_path=unit.path) if choice[0] != unit.parent_id
    ]
    if request.method == "POST":
        form = OrgUnitMoveForm(request.POST, parent_choices=choices)
        if form.is_valid():
            try:
                services.org_unit_move(actor=actor, unit_id=unit.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Org unit moved."))
                return redirect("org:unit-detail", pk=unit.pk)
    else:
        form = OrgUnitMoveForm(parent_choices=choices)
    return render(request, "org/unit_form.html", {"form": form, "title": _("Move org unit"), "unit": unit})


# ---------------------------------------------------------------- teams


@page
@require_http_methods(["GET"])
def team_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, VIEW)
    unit = None
    unit_param = request.GET.get("unit", "")
    if unit_param:
        unit = selectors.access_org_unit(actor, unit_param, VIEW)
    teams = selectors.team_list(actor=actor, org_unit_id=unit.pk if unit else None)
    return render(
        request, "org/team_list.html", {"teams": teams, "unit": unit, "can_manage": actor.can(MANAGE)}
    )


@page
@require_http_methods(["GET"])
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    team = selectors.access_team(actor, pk, VIEW)
    context = {
        "team": team,
        "members": team_members(actor=actor, team_id=team.pk),
        "can_manage": actor.can(MANAGE),
    }
    return render(request, "org/team_detail.html", context)


@page
@require_http_methods(["GET", "POST"])
def team_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, MANAGE)
    choices = _unit_choices(actor)
    if request.method == "POST":
        form = TeamCreateForm(request.POST, unit_choices=choices)
        if form.is_valid():
            try:
                team = services.team_create(actor=actor, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Team %(name)s created.") % {"name": team.name})
                return redirect("org:team-detail", pk=team.pk)
    else:
        form = TeamCreateForm(initial={"org_unit_id": request.GET.get("unit", "")}, unit_choices=choices)
    return render(request, "org/team_form.html", {"form": form, "title": _("New team"), "team": None})


@page
@require_http_methods(["GET", "POST"])
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    team = selectors.access_team(actor, pk, MANAGE)
    choices = _unit_choices(actor)
    if team.org_unit_id not in {unit_pk for unit_pk, _label in choices}:
        # An inactive unit is still the team's current one; keep it selectable.
        choices.append((team.org_unit_id, f"{team.org_unit.name} ({team.org_unit.code})"))
    if request.method == "POST":
        form = TeamEditForm(request.POST, unit_choices=choices)
        if form.is_valid():
            try:
                services.team_update(actor=actor, team_id=team.pk, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                messages.success(request, _("Team saved."))
                return redirect("org:team-detail", pk=team.pk)
    else:
        initial = {
            "org_unit_id": team.org_unit_id,
            "code": team.code,
            "name": team.name,
            "is_active": team.is_active,
        }
        form = TeamEditForm(initial=initial, unit_choices=choices)
    return render(request, "org/team_form.html", {"form": form, "title": _("Edit team"), "team": team})
