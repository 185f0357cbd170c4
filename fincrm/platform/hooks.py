"""Where platform hands audit and security events to the app that stores them.

platform sits below every app, so it cannot import the audit app; the audit app registers
its recorders here when it starts. A write without a recorder is a configuration error,
never a silent skip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

from fincrm.platform.actor import Actor


class AuditRecorder(Protocol):
    def __call__(
        self,
        actor: Actor,
        action: str,
        *,
        object_type: str = "",
        object_id: str = "",
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        reason: str = "",
    ) -> object: ...


class SecurityRecorder(Protocol):
    def __call__(
        self,
        actor: Actor,
        kind: str,
        *,
        severity: str = "info",
        detail: Mapping[str, Any] | None = None,
        user_id: int | None = None,
    ) -> object: ...


_audit: AuditRecorder | None = None
_security: SecurityRecorder | None = None


def install(*, audit: AuditRecorder, security: SecurityRecorder) -> None:
    global _audit, _security
    _audit = audit
    _security = security


def audit_recorder() -> AuditRecorder:
    if _audit is None:
        raise ImproperlyConfigured("no audit recorder installed: is fincrm.audit in INSTALLED_APPS?")
    return _audit


def security_recorder() -> SecurityRecorder:
    if _security is None:
        raise ImproperlyConfigured("no security recorder installed: is fincrm.audit in INSTALLED_APPS?")
    return _security
