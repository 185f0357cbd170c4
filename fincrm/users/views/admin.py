"""Administration pages: staff users, roles, and the approval of grants that reach customer data."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.platform.pagination import keyset_page
from fincrm.platform.views import page, request_actor
from fincrm.users.admin_forms import (
    SCOPE_CHOICES,
    DecisionForm,
    PasswordResetForm,
    ReasonForm,
    RoleAssignForm,
    RoleCloneForm,
    RoleForm,
    RoleUnassignForm,
    UserCreateForm,
    UserFilterForm,
    UserProfileForm,
)
from fincrm.users.models import AccessChangeRequest
from fincrm.users.selectors import accounts as account_selectors
from fincrm.users.selectors import roles as role_selectors
from fincrm.users.services import accounts as account_services
from fincrm.users.services import approvals as approval_services
from fincrm.users.services import roles as role_services

View = Callable[..., HttpResponse]
PAGE_SIZE = 50


def _unit_choices(actor: Actor, action: str) -> list[tuple[int, str]]:
    return [
        (unit.pk, "\u2003" * unit.depth + f"{unit.name} ({unit.code})")
        for unit in account_selectors.org_units_for(actor=actor, action=action)
    ]


def _team_choices(actor: Actor, action: str) -> list[tuple[int, str]]:
    return [
        (team.pk, f"{team.name} · {team.org_unit.name}")
        for team in account_selectors.teams_for(actor=actor, action=action)
    ]


def _role_choices(actor: Actor, action: str) -> list[tuple[int, str]]:
    if not actor.can(action):
        return []
    roles = (
        role_selectors.assignable_roles(actor=actor)
        if action == "role.manage"
        else role_selectors.role_list(actor=actor)
    )
    return [(role.pk, role_selectors.role_display_name(role)) for role in roles]


def _fail(request: HttpRequest, error: ServiceError) -> None:
    texts = [text for texts in error.fields.values() for text in texts] or [str(error.message)]
    for text in texts:
        messages.error(request, text)


# ---------------------------------------------------------------- users


@page
@require_http_methods(["GET"])
def user_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, "user.view")
    form = UserFilterForm(
        request.GET or None,
        units=_unit_choices(actor, "user.view"),
        roles=_role_choices(actor, "role.view"),
    )
    filters = account_selectors.UserFilter()
    if form.is_bound and form.is_valid():
        filters = account_selectors.UserFilter(
            org_unit_id=form.cleaned_data.get("org_unit"),
            role_id=form.cleaned_data.get("role"),
            is_active=form.is_active_value(),
            search=form.cleaned_data.get("q") or "",
        )
    users = account_selectors.user_list(actor=actor, filters=filters)
    try:
        page = keyset_page(
            users, limit=PAGE_SIZE, cursor=request.GET.get("cursor"), ordering=("username", "id")
        )
    except ServiceError:
        page = keyset_page(users, limit=PAGE_SIZE, cursor=None, ordering=("username", "id"))
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "users/admin/user_list.html",
        {
            "form": form,
            "users": page.items,
            "next_cursor": page.next_cursor,
            "query": query.urlencode(),
            "can_create": actor.can("user.manage"),
        },
    )


@page
@require_http_methods(["GET"])
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    user = account_selectors.user_get(actor=actor, user_id=pk)
    return render(
        request,
        "users/admin/user_detail.html",
        {
            "subject": user,
            "roles": [(role, role_selectors.role_display_name(role)) for role in user.roles.all()],
            "session_count": account_selectors.user_session_count(user_id=user.pk),
            "can_manage": account_selectors.user_reachable(
                actor=actor, user_id=user.pk, action="user.manage"
            ),
            "can_assign": account_selectors.user_reachable(
                actor=actor, user_id=user.pk, action="role.manage"
            ),
            "is_self": user.pk == actor.user_id,
            "pending": account_selectors.user_pending_requests(actor=actor, user_id=user.pk),
            "reset_form": PasswordResetForm(),
        },
    )


@page
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, "user.manage")
    form = UserCreateForm(
        request.POST or None,
        units=_unit_choices(actor, "user.manage"),
        teams=_team_choices(actor, "user.manage"),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = account_services.user_create(
                actor=actor,
                username=data["username"],
                full_name=data["full_name"],
                email=data.get("email") or "",
                org_unit_id=data["org_unit"],
                team_ids=data.get("teams") or [],
                password=data["password"],
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("User %(username)s created.") % {"username": user.username})
            return redirect("users:user-detail", pk=user.pk)
    return render(request, "users/admin/user_form.html", {"form": form, "subject": None})


@page
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    user = account_selectors.access_user(actor, pk, "user.manage")
    initial = {
        "full_name": user.full_name,
        "email": user.email,
        "org_unit": user.org_unit_id,
        "teams": [team.pk for team in account_selectors.user_with_relations(user).teams.all()],
    }
    form = UserProfileForm(
        request.POST or None,
        initial=initial,
        units=_unit_choices(actor, "user.manage"),
        teams=_team_choices(actor, "user.manage"),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account_services.user_update(
                actor=actor,
                user_id=user.pk,
                full_name=data["full_name"],
                email=data.get("email") or "",
                org_unit_id=data["org_unit"],
                team_ids=data.get("teams") or [],
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("users:user-detail", pk=user.pk)
    return render(request, "users/admin/user_form.html", {"form": form, "subject": user})


@page
@require_http_methods(["GET", "POST"])
def user_roles(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    user = account_selectors.access_user(actor, pk, "role.manage")
    assign_form = RoleAssignForm(roles=_role_choices(actor, "role.manage"))
    if request.method == "POST":
        if request.POST.get("action") == "unassign":
            unassign_form = RoleUnassignForm(request.POST)
            if unassign_form.is_valid():
                try:
                    account_services.user_role_unassign(
                        actor=actor,
                        user_id=user.pk,
                        role_id=unassign_form.cleaned_data["role"],
                        reason=unassign_form.cleaned_data.get("reason") or "",
                    )
                except ServiceError as error:
                    _fail(request, error)
                else:
                    messages.success(request, _("Role taken away; the user's sessions have ended."))
            return redirect("users:user-roles", pk=user.pk)
        assign_form = RoleAssignForm(request.POST, roles=_role_choices(actor, "role.manage"))
        if assign_form.is_valid():
            try:
                result = account_services.user_role_assign(
                    actor=actor,
                    user_id=user.pk,
                    role_id=assign_form.cleaned_data["role"],
                    reason=assign_form.cleaned_data.get("reason") or "",
                )
            except ServiceError as error:
                apply_service_error(assign_form, error)
            else:
                if isinstance(result, AccessChangeRequest):
                    messages.info(
                        request,
                        _("The role reaches customer data: a second administrator must approve it."),
                    )
                else:
                    messages.success(request, _("Role assigned; the user's sessions have ended."))
                return redirect("users:user-roles", pk=user.pk)
    detailed = account_selectors.user_with_relations(user)
    return render(
        request,
        "users/admin/user_roles.html",
        {
            "subject": detailed,
            "roles": [(role, role_selectors.role_display_name(role)) for role in detailed.roles.all()],
            "assign_form": assign_form,
            "pending": account_selectors.user_pending_requests(actor=actor, user_id=user.pk),
            "is_self": user.pk == actor.user_id,
        },
    )


def _user_action(
    request: HttpRequest, pk: int, run: Callable[[Actor, int, str], object], done: str
) -> HttpResponse:
    actor = request_actor(request)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        run(actor, pk, reason)
    except ServiceError as error:
        _fail(request, error)
    else:
        messages.success(request, done)
    return redirect("users:user-detail", pk=pk)


@page
@require_POST
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _user_action(
        request,
        pk,
        lambda actor, user_id, reason: account_services.user_deactivate(
            actor=actor, user_id=user_id, reason=reason
        ),
        _("User deactivated; their sessions and API tokens have ended."),
    )


@page
@require_POST
def user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _user_action(
        request,
        pk,
        lambda actor, user_id, reason: account_services.user_reactivate(
            actor=actor, user_id=user_id, reason=reason
        ),
        _("User reactivated."),
    )


@page
@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    from fincrm.users.services.signin import user_unlock as unlock

    return _user_action(
        request, pk, lambda actor, user_id, reason: unlock(actor=actor, user_id=user_id), _("User unlocked.")
    )


@page
@require_POST
def user_password_reset(request: HttpRequest, pk: int) -> HttpResponse:
    from fincrm.users.services.sessions import user_password_reset as reset

    actor = request_actor(request)
    form = PasswordResetForm(request.POST)
    if not form.is_valid():
        # Still resolve the user through the scoped service path: out of scope stays "not found".
        account_selectors.access_user(actor, pk, "user.manage")
        messages.error(request, _("Enter a temporary password."))
        return redirect("users:user-detail", pk=pk)
    try:
        reset(actor=actor, user_id=pk, new_password=form.cleaned_data["new_password"])
    except ServiceError as error:
        _fail(request, error)
    else:
        messages.success(request, _("Password reset; the user must change it at next sign-in."))
    return redirect("users:user-detail", pk=pk)


# ---------------------------------------------------------------- roles


@page
@require_http_methods(["GET"])
def role_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    roles = role_selectors.role_list(actor=actor)
    rows = [
        {
            "role": role,
            "name": role_selectors.role_display_name(role),
            "permission_count": len(role.permission_rows.all()),
        }
        for role in roles
    ]
    return render(
        request, "users/admin/role_list.html", {"rows": rows, "can_manage": actor.can("role.manage")}
    )


@page
@require_http_methods(["GET"])
def role_detail(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    role = role_selectors.role_get(actor=actor, role_id=pk)
    granted = role_selectors.role_permission_names(role)
    return render(
        request,
        "users/admin/role_detail.html",
        {
            "role": role,
            "name": role_selectors.role_display_name(role),
            "scope_label": dict(SCOPE_CHOICES).get(role.scope, role.scope),
            "groups": role_selectors.permission_table(granted),
            "holders": role_selectors.role_holder_list(actor=actor, role_id=role.pk)[:100],
            "can_manage": actor.can("role.manage"),
        },
    )


@page
@require_http_methods(["GET", "POST"])
def role_create(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    require_permission(actor, "role.manage")
    form = RoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            role = role_services.role_create(
                actor=actor,
                code=data["code"],
                name=data["name"],
                description=data.get("description") or "",
                scope=data["scope"],
                permissions=data["permissions"],
                mfa_required=bool(data.get("mfa_required")),
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Role created."))
            return redirect("users:role-detail", pk=role.pk)
    return render(request, "users/admin/role_form.html", {"form": form, "role": None})


@page
@require_http_methods(["GET", "POST"])
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    role = role_selectors.access_role(actor, pk, "role.manage")
    if role.is_builtin:
        messages.error(request, _("Built-in roles cannot be changed; clone one to make a custom role."))
        return redirect("users:role-detail", pk=role.pk)
    initial = {
        "name": role.name,
        "description": role.description,
        "scope": role.scope,
        "permissions": sorted(role_selectors.role_permission_names(role)),
        "mfa_required": role.mfa_required,
    }
    form = RoleForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            change = role_services.role_update(
                actor=actor,
                role_id=role.pk,
                name=data["name"],
                description=data.get("description") or "",
                scope=data["scope"],
                permissions=data["permissions"],
                mfa_required=bool(data.get("mfa_required")),
                reason=data.get("reason") or "",
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            if change.request is not None:
                messages.info(
                    request,
                    _(
                        "Changes that reach customer data wait for a second administrator's approval; "
                        "the rest is saved."
                    ),
                )
            else:
                messages.success(request, _("Changes saved."))
            return redirect("users:role-detail", pk=role.pk)
    return render(request, "users/admin/role_form.html", {"form": form, "role": role})


@page
@require_http_methods(["GET", "POST"])
def role_clone(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    source = role_selectors.access_role(actor, pk, "role.manage")
    source_name = role_selectors.role_display_name(source)
    form = RoleCloneForm(
        request.POST or None,
        initial={"code": f"{source.code}_copy", "name": _("%(name)s (copy)") % {"name": source_name}},
    )
    if request.method == "POST" and form.is_valid():
        try:
            role = role_services.role_clone(
                actor=actor, role_id=source.pk, code=form.cleaned_data["code"], name=form.cleaned_data["name"]
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, _("Role cloned; you can now change the copy."))
            return redirect("users:role-detail", pk=role.pk)
    return render(
        request, "users/admin/role_clone.html", {"form": form, "source": source, "name": source_name}
    )


# ---------------------------------------------------------------- approvals


@page
@require_http_methods(["GET"])
def approval_list(request: HttpRequest) -> HttpResponse:
    actor = request_actor(request)
    requests = role_selectors.access_request_list(actor=actor)
    can_approve = actor.can("role.approve")
    rows = [
        {
            "request": item,
            "role_name": role_selectors.role_display_name(item.role),
            "is_mine": item.requested_by_id == actor.user_id,
            "can_decide": can_approve
            and item.requested_by_id != actor.user_id
            and item.target_user_id != actor.user_id,
        }
        for item in requests[:200]
    ]
    return render(request, "users/admin/approval_list.html", {"rows": rows})


@page
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    actor = request_actor(request)
    form = DecisionForm(request.POST)
    decision = form.cleaned_data["decision"] if form.is_valid() else "approve"
    note = form.cleaned_data.get("note", "") if form.is_valid() else ""
    services = {
        "approve": (approval_services.access_request_approve, _("Approved and applied.")),
        "reject": (approval_services.access_request_reject, _("Rejected.")),
        "withdraw": (approval_services.access_request_withdraw, _("Withdrawn.")),
    }
    service, done = services[decision]
    try:
        service(actor=actor, request_id=pk, note=note)
    except ServiceError as error:
        _fail(request, error)
    else:
        messages.success(request, done)
    return redirect("users:approval-list")


urlpatterns: list[URLPattern] = [
    path("admin/users/", user_list, name="user-list"),
    path("admin/users/new/", user_create, name="user-create"),
    path("admin/users/<int:pk>/", user_detail, name="user-detail"),
    path("admin/users/<int:pk>/edit/", user_edit, name="user-edit"),
    path("admin/users/<int:pk>/roles/", user_roles, name="user-roles"),
    path("admin/users/<int:pk>/deactivate/", user_deactivate, name="user-deactivate"),
    path("admin/users/<int:pk>/reactivate/", user_reactivate, name="user-reactivate"),
    path("admin/users/<int:pk>/unlock/", user_unlock, name="user-unlock"),
    path("admin/users/<int:pk>/password-reset/", user_password_reset, name="user-password-reset"),
    path("admin/roles/", role_list, name="role-list"),
    path("admin/roles/new/", role_create, name="role-create"),
    path("admin/roles/<int:pk>/", role_detail, name="role-detail"),
    path("admin/roles/<int:pk>/edit/", role_edit, name="role-edit"),
    path("admin/roles/<int:pk>/clone/", role_clone, name="role-clone"),
    path("admin/approvals/", approval_list, name="approval-list"),
    path("admin/approvals/<int:pk>/decide/", approval_decide, name="approval-decide"),
]
