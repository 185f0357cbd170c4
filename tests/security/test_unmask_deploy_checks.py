"""`fincrm check --deploy` in the production profile refuses a deployment whose audit chain head
cannot be signed or exported (security app system checks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core import checks
from django.test import override_settings

from fincrm.security.checks import check_audit_head_export, check_audit_signing_key


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return [message.id or "" for message in messages]


def write_key(path: Path, mode: int = 0o600) -> Path:
    path.write_text("ab" * 32 + "\n")
    os.chmod(path, mode)
    return path


def test_nothing_is_checked_outside_production(tmp_path: Path) -> None:
    with override_settings(
        FINCRM_PROFILE="development", FINCRM_AUDIT_SIGNING_KEY_FILE="", FINCRM_AUDIT_HEAD_EXPORT_PATH=""
    ):
        assert check_audit_signing_key() == []
        assert check_audit_head_export() == []


def test_production_with_both_configured_passes(tmp_path: Path) -> None:
    key = write_key(tmp_path / "audit.key")
    with override_settings(
        FINCRM_PROFILE="production",
        FINCRM_AUDIT_SIGNING_KEY_FILE=str(key),
        FINCRM_AUDIT_HEAD_EXPORT_PATH=str(tmp_path / "heads.jsonl"),
    ):
        assert check_audit_signing_key() == []
        assert check_audit_head_export() == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("", "fincrm_security.E020"),
        ("missing", "fincrm_security.E021"),
        ("short", "fincrm_security.E021"),
        ("loose", "fincrm_security.E022"),
    ],
)
def test_signing_key_problems(tmp_path: Path, key: str, expected: str) -> None:
    setting = ""
    if key == "missing":
        setting = str(tmp_path / "nope.key")
    elif key == "short":
        path = tmp_path / "short.key"
        path.write_text("abcd\n")
        setting = str(path)
    elif key == "loose":
        setting = str(write_key(tmp_path / "loose.key", 0o644))
    with override_settings(FINCRM_PROFILE="production", FINCRM_AUDIT_SIGNING_KEY_FILE=setting):
        assert ids(check_audit_signing_key()) == [expected]


@pytest.mark.parametrize(
    ("where", "expected"),
    [("", "fincrm_security.E023"), ("no/such/folder/heads.jsonl", "fincrm_security.E024")],
)
def test_head_export_problems(tmp_path: Path, where: str, expected: str) -> None:
    setting = str(tmp_path / where) if where else ""
    with override_settings(FINCRM_PROFILE="production", FINCRM_AUDIT_HEAD_EXPORT_PATH=setting):
        assert ids(check_audit_head_export()) == [expected]


def test_checks_run_with_deploy_only(tmp_path: Path) -> None:
    with override_settings(
        FINCRM_PROFILE="production", FINCRM_AUDIT_SIGNING_KEY_FILE="", FINCRM_AUDIT_HEAD_EXPORT_PATH=""
    ):
        everyday = ids(checks.run_checks(tags=[checks.Tags.security]))
        deploy = ids(checks.run_checks(tags=[checks.Tags.security], include_deployment_checks=True))
    assert "fincrm_security.E020" not in everyday
    assert "fincrm_security.E020" in deploy
    assert "fincrm_security.E023" in deploy
