"""The registry of audit action codes. Each app declares its codes in its audit_events.py."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class EventCode:
    code: str
    label: str | Promise


_codes: dict[str, EventCode] = {}


class UnknownEventCode(KeyError):
    pass


def register(*codes: EventCode) -> None:
    for event in codes:
        _codes[event.code] = event


def get(code: str) -> EventCode:
    try:
        return _codes[code]
    except KeyError as error:
        raise UnknownEventCode(code) from error


def all_codes() -> list[EventCode]:
    return sorted(_codes.values(), key=lambda event: event.code)
