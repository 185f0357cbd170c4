"""request.actor for pages, and the session policy: idle timeout, absolute lifetime,
forced password change and MFA enrolment before anything else."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from fincrm.platform.actor import Actor
from fincrm.users.actors import actor_for_user


def _actor(request: HttpRequest) -> Actor:
    user = request.user
    if user.is_authenticated:
        return actor_for_user(user)  # type: ignore[arg-type]
    return Actor.anonymous()


class ActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.actor = SimpleLazyObject(lambda: _actor(request))  # type: ignore[attr-defined]
        return self.get_response(request)
