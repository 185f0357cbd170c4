"""The errors services raise; pages and the API translate them to one shape each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class NotFound(Http404):
    """Missing or outside the caller's scope: the same answer, so existence never leaks."""

    def __init__(self, object_type: str, object_id: object) -> None:
        super().__init__(f"{object_type} {object_id} not found")
        self.object_type = object_type
        self.object_id = object_id


class Forbidden(Exception):
    """The caller lacks the permission for an action that names no object."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission)
        self.permission = permission


class ServiceError(Exception):
    """A rule was broken; ``fields`` maps a field name to its localized messages.

    Raised before anything is written (services validate first), so nothing is half-done.
    """

    def __init__(
        self,
        message: str | Promise,
        *,
        code: str = "invalid",
        fields: Mapping[str, Sequence[str | Promise]] | None = None,
        status: int = 400,
    ) -> None:
        super().__init__(str(message))
        self.message = message
        self.code = code
        self.fields = {name: [str(text) for text in texts] for name, texts in (fields or {}).items()}
        self.status = status

    @classmethod
    def field(cls, name: str, message: str | Promise, *, code: str = "invalid") -> ServiceError:
        return cls(_("Please correct the marked field."), code=code, fields={name: [message]})


class Conflict(ServiceError):
    def __init__(self, message: str | Promise, *, code: str = "conflict") -> None:
        super().__init__(message, code=code, status=409)
