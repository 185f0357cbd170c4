"""What fincrm holds about one customer, for an access/copy request (PIPL Art. 45).

Each app registers a section: a function returning plain JSON-able data about the customer::

    subject_data.register_section("portfolio.accounts", accounts_of)   # fn(customer_id) -> dict

The access request's export calls every section after the caller's access was checked; a section
reads its own app's tables for that one customer and returns clear values (the copy is for the
customer themself). Sections run in label order, so an export is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Section = Callable[[int], dict[str, Any]]

_sections: dict[str, Section] = {}


def register_section(label: str, section: Section) -> None:
    existing = _sections.get(label)
    if existing is not None and existing is not section:
        raise ValueError(f"a subject-data section named {label!r} is already registered")
    _sections[label] = section


def sections() -> dict[str, Section]:
    return dict(sorted(_sections.items()))
