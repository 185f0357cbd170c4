"""What every page view shares: the acting user, sign-in, and permission checks.

A ``Forbidden`` raised anywhere below a page (a service refusing an action that names no object)
becomes the 403 page through ForbiddenPageMiddleware; ``NotFound`` is an Http404 already.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor

ViewT = TypeVar("ViewT", bound=Callable[..., HttpResponse])


def request_actor(request: HttpRequest) -> Actor:
    """The Actor the actor middleware attached to the request."""
    return cast(Actor, request.actor)  # type: ignore[attr-defined]


def page(view: ViewT) -> ViewT:
    """A page for signed-in users (anonymous users go to the sign-in page)."""
    return login_required(view)


def permission_required_page(permission: str) -> Callable[[ViewT], ViewT]:
    """Sign-in first, then the permission: without it the 403 page, and the refusal is recorded
    as an ``access.denied`` security event."""

    def decorator(view: ViewT) -> ViewT:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require_permission(request_actor(request), permission)
            return view(request, *args, **kwargs)

        return page(cast(ViewT, wrapped))

    return decorator
