"""Pages for a user's own API tokens: list, create (shown once), revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from fincrm.platform.errors import Conflict, ServiceError
from fincrm.platform.permissions import get as permission_spec
from fincrm.platform.views import permission_required_page
from fincrm.users.selectors.tokens import grantable_scopes, own_token_list
from fincrm.users.services.tokens import (
    MAX_EXPIRY_DAYS,
    api_token_create,
    api_token_revoke,
    default_expiry_days,
)


class TokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("Name it after the system or script that will use it."),
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Permissions"),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        help_text=gettext_lazy("The token can never do more than you can do at the time it is used."),
    )
    expires_days = forms.IntegerField(
        label=gettext_lazy("Valid for (days)"),
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )

    def __init__(self, *args: object, scope_choices: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["scopes"].choices = scope_choices  # type: ignore[attr-defined]
        self.fields["scopes"].initial = [name for name, _label in scope_choices]
        self.fields["expires_days"].initial = default_expiry_days()


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    context = {
        "tokens": own_token_list(actor=actor)[:200],
        "can_create": actor.can("api.token.use"),
        "now": timezone.now(),
    }
    return render(request, "users/tokens/token_list.html", context)


@never_cache
@permission_required_page("api.token.use")
@require_http_methods(["GET", "POST"])
def token_create(request: HttpRequest) -> HttpResponse:
    actor = request.actor  # type: ignore[attr-defined]
    choices = [
        (name, f"{name} · {permission_spec(name).label}") for name in grantable_scopes(actor, actor.user_id)
    ]
    form = TokenForm(request.POST or None, scope_choices=choices)
    if request.method == "POST" and form.is_valid():
        try:
            token, plaintext = api_token_create(
                actor=actor,
                owner_id=actor.user_id,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_days=form.cleaned_data["expires_days"],
            )
        except ServiceError as error:
            for field, texts in error.fields.items():
                for text in texts:
                    form.add_error(field if field in form.fields else None, text)
            if not error.fields:
                form.add_error(None, str(error.message))
        else:
            response = render(
                request, "users/tokens/token_created.html", {"token": token, "plaintext": plaintext}
            )
            response["Cache-Control"] = "no-store, no-cache, must-revalidate, private"
            return response
    return render(request, "users/tokens/token_form.html", {"form": form})


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        token = api_token_revoke(actor=request.actor, token_id=pk)  # type: ignore[attr-defined]
    except Conflict as error:
        messages.info(request, str(error.message))
    else:
        messages.success(request, _("The token %(name)s was revoked.") % {"name": token.name})
    return redirect("users:token-list")


urlpatterns: list[URLPattern] = [
    path("account/tokens/", token_list, name="token-list"),
    path("account/tokens/new/", token_create, name="token-create"),
    path("account/tokens/<int:pk>/revoke/", token_revoke, name="token-revoke"),
]
