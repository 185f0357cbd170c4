"""Decorators for page views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from fincrm.platform.access import require_permission
from fincrm.platform.errors import Forbidden

ViewT = TypeVar("ViewT", bound=Callable[..., HttpResponse])


def permission_required_page(permission: str) -> Callable[[ViewT], ViewT]:
    """Sign-in first (anonymous users go to the sign-in page), then the permission: without it
    the 403 page, and the refusal is recorded as an ``access.denied`` security event."""

    def decorator(view: ViewT) -> ViewT:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                require_permission(request.actor, permission)  # type: ignore[attr-defined]
            except Forbidden as error:
                raise PermissionDenied(permission) from error
            return view(request, *args, **kwargs)

        return cast(ViewT, login_required(wrapped))

    return decorator
