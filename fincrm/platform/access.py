"""Permission checks and uniform not-found access, recording every denial as a security event."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from fincrm.platform import hooks
from fincrm.platform.actor import Actor
from fincrm.platform.errors import Forbidden, NotFound

# What the queryset yields: model instances, or the values of a values_list() query.
RowT = TypeVar("RowT")


def record_denied(actor: Actor, action: str, *, object_type: str = "", object_id: object = "") -> None:
    hooks.security_recorder()(
        actor,
        "access.denied",
        severity="warning",
        detail={"action": action, "object_type": object_type, "object_id": str(object_id)},
        user_id=actor.user_id,
    )


def require_permission(actor: Actor, permission: str) -> None:
    if not actor.can(permission):
        record_denied(actor, permission)
        raise Forbidden(permission)


def access_object(
    queryset: models.QuerySet[Any, RowT],
    object_id: object,
    *,
    actor: Actor,
    action: str,
    object_type: str,
) -> RowT:
    """Fetch one object from an already-scoped queryset, or raise NotFound and record the denial."""
    try:
        return queryset.get(pk=object_id)
    except (ObjectDoesNotExist, ValueError, TypeError):
        record_denied(actor, action, object_type=object_type, object_id=object_id)
        raise NotFound(object_type, object_id) from None
