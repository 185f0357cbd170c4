"""A user's own account: profile, password, sessions and second factor."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from fincrm.platform.errors import ServiceError
from fincrm.platform.forms import apply_service_error
from fincrm.users.forms import PasswordChangeForm, PasswordConfirmForm, TotpCodeForm
from fincrm.users.selectors.sessions import (
    mfa_device_confirmed,
    own_account,
    own_roles,
    own_session_list,
    recovery_codes_left,
)
from fincrm.users.services.mfa import (
    mfa_recovery_codes_regenerate,
    mfa_remove,
    mfa_setup_begin,
    mfa_setup_confirm,
    provisioning_for,
    user_requires_mfa,
)
from fincrm.users.services.sessions import (
    session_end,
    session_end_all_other,
    user_password_change,
    user_session_rekey,
)
from fincrm.users.sessions import SESSION_MFA_OK


@login_required
def account(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    context = {
        "account": own_account(actor=actor),
        "roles": own_roles(actor=actor),
        "mfa_enrolled": mfa_device_confirmed(user_id=actor.user_id),
        "mfa_required": user_requires_mfa(user_id=actor.user_id),
        "codes_left": recovery_codes_left(user_id=actor.user_id),
        "session_count": own_session_list(actor=actor).count(),
    }
    return render(request, "users/account/account.html", context)


@sensitive_post_parameters("old_password", "new_password", "new_password_again")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        old_key = request.session.session_key or ""
        try:
            user = user_password_change(
                actor=actor,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
                new_password_again=form.cleaned_data["new_password_again"],
                current_key=old_key,
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            # Keep this session valid under the new password (Django cycles its key), and its row with it.
            update_session_auth_hash(request, user)
            user_session_rekey(old_key=old_key, new_key=request.session.session_key or "")
            messages.success(request, _("Your password was changed. Your other sessions have ended."))
            return redirect("users:account")
    must_change = getattr(request.user, "must_change_password", False)
    return render(request, "users/account/password_change.html", {"form": form, "must_change": must_change})


@never_cache
@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    sessions = list(own_session_list(actor=actor))
    return render(
        request,
        "users/account/sessions.html",
        {"sessions": sessions, "current_key": request.session.session_key},
    )


@login_required
@require_POST
def session_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    session_end(actor=request.actor, session_id=pk)  # type: ignore[attr-defined]
    messages.success(request, _("The session was ended."))
    return redirect("users:session-list")


@login_required
@require_POST
def session_end_others(request: HttpRequest) -> HttpResponse:
    ended = session_end_all_other(
        actor=request.actor,  # type: ignore[attr-defined]
        current_key=request.session.session_key or "",
    )
    messages.success(request, _("%(count)d other sessions were ended.") % {"count": ended})
    return redirect("users:session-list")


def _error_text(error: ServiceError) -> str:
    return "; ".join(text for texts in error.fields.values() for text in texts) or str(error.message)


def _codes_page(request: HttpRequest, codes: list[str]) -> HttpResponse:
    response = render(request, "users/account/recovery_codes.html", {"codes": codes})
    response["Cache-Control"] = "no-store"
    return response


@sensitive_post_parameters("code")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    required = user_requires_mfa(user_id=actor.user_id)
    if mfa_device_confirmed(user_id=actor.user_id):
        context = {
            "required": required,
            "mfa_ok": bool(request.session.get(SESSION_MFA_OK)),
            "codes_left": recovery_codes_left(user_id=actor.user_id),
            "regenerate_form": TotpCodeForm(),
            "remove_form": PasswordConfirmForm(),
        }
        return render(request, "users/account/mfa_manage.html", context)
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = mfa_setup_confirm(actor=actor, code=form.cleaned_data["code"])
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            request.session[SESSION_MFA_OK] = True
            messages.success(request, _("Two-factor sign-in is set up."))
            return _codes_page(request, codes)
    device = mfa_setup_begin(actor=actor)
    provisioning = provisioning_for(device=device, username=request.user.get_username())
    response = render(
        request,
        "users/account/mfa_setup.html",
        {"form": form, "provisioning": provisioning, "required": required},
    )
    response["Cache-Control"] = "no-store"
    return response


@sensitive_post_parameters("code")
@never_cache
@login_required
@require_POST
def mfa_recovery_codes(request: HttpRequest) -> HttpResponse:
    form = TotpCodeForm(request.POST)
    if form.is_valid():
        try:
            codes = mfa_recovery_codes_regenerate(actor=request.actor, code=form.cleaned_data["code"])  # type: ignore[attr-defined]
        except ServiceError as error:
            messages.error(request, _error_text(error))
        else:
            return _codes_page(request, codes)
    else:
        messages.error(request, _("Enter the code from your app."))
    return redirect("users:mfa-setup")


@sensitive_post_parameters("password")
@login_required
@require_POST
def mfa_remove_view(request: HttpRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.POST)
    if form.is_valid():
        try:
            mfa_remove(actor=request.actor, password=form.cleaned_data["password"])  # type: ignore[attr-defined]
        except ServiceError as error:
            messages.error(request, _error_text(error))
        else:
            request.session[SESSION_MFA_OK] = False
            messages.success(request, _("Two-factor sign-in was removed."))
            return redirect("users:account")
    else:
        messages.error(request, _("Enter your password."))
    return redirect("users:mfa-setup")


urlpatterns: list[URLPattern] = [
    path("account/", account, name="account"),
    path("account/password/", password_change, name="password-change"),
    path("account/sessions/", session_list, name="session-list"),
    path("account/sessions/<int:pk>/end/", session_end_view, name="session-end"),
    path("account/sessions/end-others/", session_end_others, name="session-end-others"),
    path("account/mfa/", mfa_setup, name="mfa-setup"),
    path("account/mfa/recovery-codes/", mfa_recovery_codes, name="mfa-recovery-codes"),
    path("account/mfa/remove/", mfa_remove_view, name="mfa-remove"),
]
