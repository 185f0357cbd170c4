"""The typed configuration loader: documented defaults, clear errors naming the variable."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fincrm.config import ConfigError, load


def test_defaults_are_the_documented_ones() -> None:
    config = load({})
    assert config.profile == "development"
    assert config.session_idle_minutes == 15
    assert config.session_absolute_hours == 10
    assert config.lockout_failures == 5
    assert config.lockout_window_minutes == 15
    assert config.working_hours_start == time(7, 0)
    assert config.time_zone == "Asia/Shanghai"
    assert config.database_url.startswith("sqlite:///")
    assert config.database_url.endswith("fincrm.sqlite3")


def test_pytest_runs_in_the_test_profile() -> None:
    assert load({"PYTEST_VERSION": "8"}).profile == "test"


def test_production_requires_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="FINCRM_SECRET_KEY"):
        load({"FINCRM_PROFILE": "production"})
    config = load({"FINCRM_PROFILE": "production", "FINCRM_SECRET_KEY": "k" * 50})
    assert config.is_production
    assert not config.debug


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FINCRM_PROFILE", "staging"),
        ("FINCRM_SESSION_IDLE_MINUTES", "fifteen"),
        ("FINCRM_SESSION_IDLE_MINUTES", "0"),
        ("FINCRM_DEBUG", "maybe"),
        ("FINCRM_WORKING_HOURS_START", "7am"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load({name: value})


@given(st.text(max_size=20))
def test_integer_settings_never_crash_on_arbitrary_text(raw: str) -> None:
    """Any text either loads as a valid number or fails with the variable's name (never a crash)."""
    stripped = raw.strip()
    if stripped == "" or (stripped.isascii() and stripped.lstrip("+-").isdigit() and int(stripped) >= 1):
        assert load({"FINCRM_LOCKOUT_FAILURES": raw}).lockout_failures >= 1
    else:
        with pytest.raises(ConfigError, match="FINCRM_LOCKOUT_FAILURES"):
            load({"FINCRM_LOCKOUT_FAILURES": raw})
