"""The permission registry. Apps declare theirs in their own permissions.py.

A permission is a dotted name (``customer.view``). Two flags drive policy:
``customer_data`` (granting it needs a second administrator's approval, and a system
administrator's built-in role never holds it) and ``privileged`` (a role holding it
requires MFA).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class PermissionSpec:
    name: str
    label: str | Promise
    group: str | Promise
    customer_data: bool = False
    privileged: bool = False


_registry: dict[str, PermissionSpec] = {}


class UnknownPermission(KeyError):
    pass


def register(*specs: PermissionSpec) -> None:
    for spec in specs:
        existing = _registry.get(spec.name)
        if existing is not None and existing != spec:
            raise ValueError(f"permission {spec.name} declared twice with different meanings")
        _registry[spec.name] = spec


def get(name: str) -> PermissionSpec:
    try:
        return _registry[name]
    except KeyError as error:
        raise UnknownPermission(name) from error


def exists(name: str) -> bool:
    return name in _registry


def all_permissions() -> list[PermissionSpec]:
    return sorted(_registry.values(), key=lambda spec: spec.name)


def reaching_customer_data(names: Iterable[str]) -> set[str]:
    return {name for name in names if name in _registry and _registry[name].customer_data}


def any_privileged(names: Iterable[str]) -> bool:
    return any(name in _registry and _registry[name].privileged for name in names)
