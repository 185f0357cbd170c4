"""Security events leave as one JSON object per line."""

from __future__ import annotations

import json
import logging

from fincrm.platform.logging import JsonFormatter


def test_json_lines_carry_the_extra_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "fincrm.security",
            "levelname": "INFO",
            "msg": "auth.lockout",
            "kind": "auth.lockout",
            "user_id": 7,
        }
    )
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert "\n" not in line
    assert payload["message"] == "auth.lockout"
    assert payload["kind"] == "auth.lockout"
    assert payload["user_id"] == 7
    assert payload["time"].endswith("+00:00")
