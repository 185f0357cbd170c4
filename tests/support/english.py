"""Fixtures for test packages whose assertions quote English messages.

zh-Hans is the product's default language; these packages ask for English the way a browser
does (Accept-Language) and activate it for code called directly, so assertions read the source
strings whatever the Chinese catalogue says. tests/web and tests/browser check the default.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.utils import translation


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def client() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")
