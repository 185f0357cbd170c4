"""Deployment checks of the security app (``fincrm check --deploy``), production profile only.

The audit chain is only tamper-evident when its head is signed with a key kept outside the
database and exported to a file outside it (docs/security-audit.md): refuse to call a production
deployment ready without both.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def _is_production() -> bool:
    return getattr(settings, "FINCRM_PROFILE", "") == "production"


def check_audit_signing_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not _is_production():
        return []
    from fincrm.audit.integrity import signing_key

    setting = "FINCRM_AUDIT_SIGNING_KEY_FILE"
    if not getattr(settings, setting, ""):
        return [
            checks.Error(
                f"{setting} is not set: the audit chain head cannot be signed.",
                hint="Point it at a file holding a 64-hex-digit key, readable by the app only "
                "(docs/security-audit.md).",
                id="fincrm_security.E020",
            )
        ]
    try:
        signing_key()
    except (ImproperlyConfigured, OSError) as error:
        return [checks.Error(f"{setting}: {error}", id="fincrm_security.E021")]
    messages: list[checks.CheckMessage] = []
    mode = Path(getattr(settings, setting)).stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        messages.append(
            checks.Error(
                f"{setting}: the key file can be read by other users (mode {stat.filemode(mode)}).",
                hint="chmod 600 it.",
                id="fincrm_security.E022",
            )
        )
    return messages


def check_audit_head_export(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not _is_production():
        return []
    setting = "FINCRM_AUDIT_HEAD_EXPORT_PATH"
    value = getattr(settings, setting, "")
    if not value:
        return [
            checks.Error(
                f"{setting} is not set: signed chain heads are not exported, so a rewritten audit "
                "chain would go unnoticed.",
                hint="Point it at a file on write-once or separately controlled storage "
                "(docs/security-audit.md).",
                id="fincrm_security.E023",
            )
        ]
    path = Path(value)
    folder = path.parent
    if path.exists() and not os.access(path, os.W_OK):
        return [checks.Error(f"{setting}: {path} is not writable.", id="fincrm_security.E024")]
    if not path.exists() and not (folder.is_dir() and os.access(folder, os.W_OK)):
        return [
            checks.Error(
                f"{setting}: the folder {folder} does not exist or is not writable.",
                id="fincrm_security.E024",
            )
        ]
    return []
