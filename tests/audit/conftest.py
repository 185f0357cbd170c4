"""Fixtures for the audit tests: ``tamper`` (tests/audit/support.py explains it) and
``audit_files``, which points the head-signing key and the head export file at a temporary folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.audit.support import Tamper, tamper
from tests.support.english import client, english

__all__ = ["Tamper", "audit_files", "client", "english", "tamper"]


@pytest.fixture
def audit_files(settings: Any, tmp_path: Path) -> Path:
    settings.FINCRM_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "audit-signing.key")
    settings.FINCRM_AUDIT_HEAD_EXPORT_PATH = str(tmp_path / "audit-heads.jsonl")
    return tmp_path
