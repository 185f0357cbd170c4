"""Sign-in (password, then the second factor when the user has one) and sign-out."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from fincrm.users.actors import actor_for_user
from fincrm.users.forms import MfaCodeForm, SignInForm
from fincrm.users.services.mfa import mfa_code_check
from fincrm.users.services.signin import (
    Outcome,
    ip_wait_seconds,
    mfa_pending_clear,
    mfa_pending_set,
    mfa_pending_user,
    password_sign_in,
    session_start,
    sign_in_failure_record,
    sign_out_session,
)

TEMPLATE = "users/signin/sign_in.html"
VERIFY_TEMPLATE = "users/signin/verify.html"


def _safe_next(request: HttpRequest, candidate: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _failed_message() -> str:
    # One message for a wrong password, an unknown name and a locked or deactivated account.
    return _("The username or password is not correct.")


def _throttled_message(wait: int) -> str:
    return _("Too many attempts from your network; try again in %(seconds)d seconds") % {"seconds": wait}


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next", "")
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = password_sign_in(
            request=request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
        if result.outcome == Outcome.THROTTLED:
            form.add_error(None, _throttled_message(result.wait_seconds))
            status = 429
        elif result.outcome == Outcome.FAILED:
            form.add_error(None, _failed_message())
        elif result.outcome == Outcome.MFA_NEEDED and result.user is not None:
            mfa_pending_set(request, result.user, _safe_next(request, next_url))
            return redirect("users:mfa-verify")
        elif result.user is not None:
            session_start(request, result.user, mfa_ok=False)
            return HttpResponseRedirect(_safe_next(request, next_url))
    return render(request, TEMPLATE, {"form": form, "next": next_url}, status=status)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    user = mfa_pending_user(request)
    if user is None:
        messages.info(request, _("Please sign in again."))
        return redirect("users:sign-in")
    form = MfaCodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        client_ip = request.client_ip  # type: ignore[attr-defined]
        wait = ip_wait_seconds(client_ip=client_ip)
        if wait > 0:
            form.add_error(None, _throttled_message(wait))
            status = 429
        else:
            accepted = None
            if user.is_active and user.locked_at is None:
                accepted = mfa_code_check(
                    actor=actor_for_user(user), user_id=user.pk, code=form.cleaned_data["code"]
                )
            if accepted is None:
                sign_in_failure_record(username=user.username, user=user, client_ip=client_ip, stage="mfa")
                form.add_error("code", _("The code is not correct."))
            else:
                next_url = mfa_pending_clear(request)
                session_start(request, user, mfa_ok=True)
                if accepted == "recovery":
                    messages.warning(
                        request,
                        _(
                            "You signed in with a recovery code. It cannot be used again; "
                            "make new ones if few are left."
                        ),
                    )
                return HttpResponseRedirect(_safe_next(request, next_url))
    return render(request, VERIFY_TEMPLATE, {"form": form}, status=status)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    sign_out_session(request)
    messages.info(request, _("You have signed out."))
    return redirect("users:sign-in")


urlpatterns: list[URLPattern] = [
    path("signin/", sign_in, name="sign-in"),
    path("signin/verify/", mfa_verify, name="mfa-verify"),
    path("signout/", sign_out, name="sign-out"),
]
