"""The one typed loader for configuration read from the environment (12-factor).

Every setting an operator may change is read here, once, with its documented default
(see docs/operations/configuration.md). settings.py turns this into Django settings.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

PROFILES = ("development", "test", "production")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _text(env: dict[str, str], name: str, default: str) -> str:
    return env.get(name, default).strip()


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from error
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _list(env: dict[str, str], name: str, default: list[str]) -> list[str]:
    raw = env.get(name)
    if raw is None:
        return list(default)
    return [part.strip() for part in raw.split(",") if part.strip()]


def _clock(env: dict[str, str], name: str, default: str) -> time:
    raw = _text(env, name, default)
    try:
        hours, minutes = raw.split(":")
        return time(int(hours), int(minutes))
    except ValueError as error:
        raise ConfigError(f"{name} must be HH:MM, got {raw!r}") from error


@dataclass(frozen=True)
class Config:
    profile: str
    debug: bool
    secret_key: str
    database_url: str
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    time_zone: str
    cache_url: str
    trusted_proxy_header: str
    # Sign-in and sessions (DOMAIN.md security baseline; all minutes unless named).
    session_idle_minutes: int
    session_absolute_hours: int
    lockout_failures: int
    lockout_window_minutes: int
    ip_free_failures: int
    ip_delay_cap_seconds: int
    working_hours_start: time
    working_hours_end: time
    mfa_issuer: str
    # API.
    api_rate_limit_per_minute: int
    api_max_body_bytes: int
    api_page_size_max: int
    api_token_default_days: int
    job_poll_seconds: int
    job_lock_timeout_seconds: int
    outbox_dispatch_seconds: int
    data_dir: Path = field(default=BASE_DIR / "data")
    # Keyring (docs/security-keys.md). The master key itself is never shown in a repr.
    master_key: str = field(default="", repr=False)
    master_key_file: str = ""
    key_rotate_after_encryptions: int = 2**30
    key_counter_flush_every: int = 1000
    key_rotation_batch: int = 1000
    key_cache_seconds: int = 60
    # Audit chain (docs/security-audit.md): the head-signing key file and the signed-head export file.
    audit_signing_key_file: str = ""
    audit_head_export_path: str = ""
    # Step-up and sensitive-access grants (docs/security-masking.md).
    step_up_minutes: int = 15
    grant_hours: int = 4
    # Customer lists and exports (docs/users/customer-lists.md).
    list_count_cap: int = 1_000
    export_row_cap: int = 10_000
    export_link_minutes: int = 15
    # PCI DSS 3.4: keep full card numbers (encrypted) only where the institution switches it on.
    store_full_card_numbers: bool = False
    # Imports: the largest file accepted (bytes); bigger uploads are refused while they stream.
    import_max_bytes: int = 2**30
    # Imports: an uploaded file never imported (left uploaded, checked or failed) is deleted after this.
    import_upload_keep_hours: int = 72
    # Core-system feeds: the drop folder the periodic job applies complete feeds from (empty: none).
    feed_dir: str = ""

    @property
    def is_production(self) -> bool:
        return self.profile == "production"

    @property
    def is_test(self) -> bool:
        return self.profile == "test"


def load(environ: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    # pytest announces itself in PYTEST_VERSION; a test run never needs FINCRM_PROFILE set by hand.
    profile = _text(env, "FINCRM_PROFILE", "test" if "PYTEST_VERSION" in env else "development")
    if profile not in PROFILES:
        raise ConfigError(f"FINCRM_PROFILE must be one of {', '.join(PROFILES)}, got {profile!r}")
    data_dir = Path(_text(env, "FINCRM_DATA_DIR", str(BASE_DIR / "data")))
    secret_key = _text(env, "FINCRM_SECRET_KEY", "")
    if not secret_key:
        if profile == "production":
            raise ConfigError("FINCRM_SECRET_KEY must be set in production")
        secret_key = "insecure-development-key-never-used-in-production-" + "x" * 16
    default_db = f"sqlite:///{data_dir / 'fincrm.sqlite3'}"
    master_key = _text(env, "FINCRM_MASTER_KEY", "")
    master_key_file = _text(env, "FINCRM_MASTER_KEY_FILE", "")
    # Tests keep the audit signing key and head export in a temporary folder per process.
    test_dir = Path(tempfile.gettempdir()) / f"fincrm-test-{os.getpid()}"
    audit_dir = test_dir if profile == "test" else data_dir
    audit_defaults = (
        ("", "")
        if profile == "production"
        else (
            str(audit_dir / "audit-signing.key"),
            str(audit_dir / "audit-heads.jsonl"),
        )
    )
    return Config(
        profile=profile,
        debug=_bool(env, "FINCRM_DEBUG", profile == "development"),
        secret_key=secret_key,
        database_url=_text(env, "DATABASE_URL", default_db) or default_db,
        allowed_hosts=_list(env, "FINCRM_ALLOWED_HOSTS", ["127.0.0.1", "localhost"]),
        csrf_trusted_origins=_list(env, "FINCRM_CSRF_TRUSTED_ORIGINS", []),
        time_zone=_text(env, "FINCRM_TIME_ZONE", "Asia/Shanghai"),
        cache_url=_text(env, "FINCRM_CACHE_URL", "locmem://"),
        trusted_proxy_header=_text(env, "FINCRM_TRUSTED_PROXY_HEADER", ""),
        session_idle_minutes=_int(env, "FINCRM_SESSION_IDLE_MINUTES", 15, minimum=1),
        session_absolute_hours=_int(env, "FINCRM_SESSION_ABSOLUTE_HOURS", 10, minimum=1),
        lockout_failures=_int(env, "FINCRM_LOCKOUT_FAILURES", 5, minimum=1),
        lockout_window_minutes=_int(env, "FINCRM_LOCKOUT_WINDOW_MINUTES", 15, minimum=1),
        ip_free_failures=_int(env, "FINCRM_LOGIN_IP_FREE_FAILURES", 10, minimum=1),
        ip_delay_cap_seconds=_int(env, "FINCRM_LOGIN_IP_DELAY_CAP_SECONDS", 300, minimum=1),
        working_hours_start=_clock(env, "FINCRM_WORKING_HOURS_START", "07:00"),
        working_hours_end=_clock(env, "FINCRM_WORKING_HOURS_END", "21:00"),
        mfa_issuer=_text(env, "FINCRM_MFA_ISSUER", "fincrm"),
        api_rate_limit_per_minute=_int(env, "FINCRM_API_RATE_LIMIT_PER_MINUTE", 600, minimum=1),
        api_max_body_bytes=_int(env, "FINCRM_API_MAX_BODY_BYTES", 1_048_576, minimum=1024),
        api_page_size_max=_int(env, "FINCRM_API_PAGE_SIZE_MAX", 200, minimum=1),
        api_token_default_days=_int(env, "FINCRM_API_TOKEN_DEFAULT_DAYS", 90, minimum=1),
        job_poll_seconds=_int(env, "FINCRM_JOB_POLL_SECONDS", 1, minimum=1),
        job_lock_timeout_seconds=_int(env, "FINCRM_JOB_LOCK_TIMEOUT_SECONDS", 300, minimum=10),
        outbox_dispatch_seconds=_int(env, "FINCRM_OUTBOX_DISPATCH_SECONDS", 5, minimum=1),
        data_dir=data_dir,
        master_key=master_key,
        master_key_file=master_key_file,
        key_rotate_after_encryptions=_int(env, "FINCRM_KEY_ROTATE_AFTER_ENCRYPTIONS", 2**30, minimum=1),
        key_counter_flush_every=_int(env, "FINCRM_KEY_COUNTER_FLUSH_EVERY", 1000, minimum=1),
        key_rotation_batch=_int(env, "FINCRM_KEY_ROTATION_BATCH", 1000, minimum=1),
        key_cache_seconds=_int(env, "FINCRM_KEY_CACHE_SECONDS", 60, minimum=0),
        audit_signing_key_file=_text(env, "FINCRM_AUDIT_SIGNING_KEY_FILE", audit_defaults[0]),
        audit_head_export_path=_text(env, "FINCRM_AUDIT_HEAD_EXPORT_PATH", audit_defaults[1]),
        step_up_minutes=_int(env, "FINCRM_STEP_UP_MINUTES", 15, minimum=1),
        grant_hours=_int(env, "FINCRM_GRANT_HOURS", 4, minimum=1),
        list_count_cap=_int(env, "FINCRM_LIST_COUNT_CAP", 1_000, minimum=100),
        export_row_cap=_int(env, "FINCRM_EXPORT_ROW_CAP", 10_000, minimum=1),
        export_link_minutes=_int(env, "FINCRM_EXPORT_LINK_MINUTES", 15, minimum=1),
        store_full_card_numbers=_bool(env, "FINCRM_STORE_FULL_CARD_NUMBERS", False),
        import_max_bytes=_int(env, "FINCRM_IMPORT_MAX_BYTES", 2**30, minimum=1024),
        import_upload_keep_hours=_int(env, "FINCRM_IMPORT_UPLOAD_KEEP_HOURS", 72, minimum=1),
        feed_dir=_text(env, "FINCRM_FEED_DIR", ""),
    )
