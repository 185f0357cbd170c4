"""CSP-clean pages, security headers, and a production profile that passes check --deploy."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from fincrm.web.context_processors import Shell
from tests.support.world import World
from tests.web.conftest import nav_items

# --- the HTML check -------------------------------------------------------------------------


class CspViolations(HTMLParser):
    """What a strict CSP would block or what we promised never to write (docs/security-headers.md)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script":
            if "src" not in values:
                self.problems.append("inline <script>")
            elif not values["src"].startswith("/static/"):
                self.problems.append(f"script from elsewhere: {values['src']}")
            else:
                self.scripts.append(values["src"])
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "link" and "stylesheet" in values.get("rel", ""):
            if not values.get("href", "").startswith("/static/"):
                self.problems.append(f"style sheet from elsewhere: {values.get('href')}")
            else:
                self.stylesheets.append(values["href"])
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"handler attribute {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"htmx inline handler {name} on <{tag}>")
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"javascript: URL in {name} on <{tag}>")


def violations(html: str) -> CspViolations:
    parser = CspViolations()
    parser.feed(html)
    parser.close()
    return parser


def assert_csp_clean(response: Any) -> CspViolations:
    parser = violations(response.content.decode())
    assert parser.problems == [], (response.request["PATH_INFO"], parser.problems)
    return parser


def test_the_checker_catches_what_it_should() -> None:
    html = (
        '<script>alert(1)</script><style>p{}</style><a onclick="x()" style="color:red"'
        ' href="javascript:void(0)">x</a><button hx-on:click="x">b</button>'
        '<script src="https://cdn.example/x.js"></script>'
    )
    assert violations(html).problems == [
        "inline <script>",
        "<style> element",
        "handler attribute onclick on <a>",
        "style attribute on <a>",
        "javascript: URL in href on <a>",
        "htmx inline handler hx-on:click on <button>",
        "script from elsewhere: https://cdn.example/x.js",
    ]


# --- pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["system_admin_a", "account_manager_a", "peer_a"])
def test_home_is_csp_clean_and_its_assets_exist(username: str, signed_in: Any) -> None:
    client = signed_in(username)
    parser = assert_csp_clean(client.get("/"))

    assert parser.scripts == [
        "/static/vendor/tabler/js/tabler.min.js",
        "/static/vendor/htmx/htmx.min.js",
        "/static/web/fincrm.js",
        "/static/vendor/alpine/alpine-csp.min.js",
    ]
    assert parser.stylesheets == ["/static/vendor/tabler/css/tabler.min.css", "/static/web/fincrm.css"]
    for asset in parser.scripts + parser.stylesheets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()


def test_notifications_partial_is_csp_clean(signed_in: Any) -> None:
    assert_csp_clean(signed_in("system_admin_a").get("/notifications/"))


def test_sign_in_page_is_csp_clean(client: Client, world: World) -> None:
    response = client.get(reverse("users:sign-in"))

    assert response.status_code == 200
    assert_csp_clean(response)


def test_error_pages_are_csp_clean(
    signed_in: Any, client: Client, stub_urls: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_csp_clean(client.get("/no-such-page/"))
    signed_in("peer_a")
    client.raise_request_exception = False
    for path in ("/no-such-page/", "/test/refuse/", "/test/suspicious/", "/test/boom/"):
        assert_csp_clean(client.get(path))
    monkeypatch.setattr(Shell, "signed_in", property(lambda self: 1 / 0))
    assert_csp_clean(client.get("/test/boom/"))


@pytest.mark.parametrize("username", ["system_admin_a", "auditor_a", "team_lead_a"])
def test_every_page_in_the_menus_is_csp_clean(username: str, signed_in: Any) -> None:
    """The shell's links lead to other apps' pages: they must keep the same promise."""
    client = signed_in(username)
    html = client.get("/").content.decode()
    urls = [reverse(name) for name in nav_items(html)]
    for name in ("users:account", "users:session-list", "users:mfa-setup"):
        urls.append(reverse(name))
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert_csp_clean(response)


# --- headers --------------------------------------------------------------------------------


def _policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.parametrize("signed", [True, False])
def test_security_headers_on_pages(signed: bool, signed_in: Any, client: Client, world: World) -> None:
    if signed:
        signed_in("peer_a")
    response = client.get("/" if signed else reverse("users:sign-in"))

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src-elem"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_error_pages_carry_the_headers_too(client: Client, world: World) -> None:
    response = client.get("/no-such-page/")

    assert response["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_htmx_is_configured_without_eval() -> None:
    html = (Path(settings.BASE_DIR) / "fincrm/web/templates/web/base.html").read_text()
    start = html.index('<meta name="htmx-config" content=\'') + len('<meta name="htmx-config" content=\'')
    config = json.loads(html[start : html.index("'>", start)])

    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["selfRequestsOnly"] is True
    assert config["historyCacheSize"] == 0


def test_test_profile_cookie_flags() -> None:
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.CSRF_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.CSRF_COOKIE_SAMESITE == "Lax"


# --- the production profile -----------------------------------------------------------------


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FINCRM_", "PYTEST"))}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests for their own process only
    env.update(
        FINCRM_PROFILE="production",
        FINCRM_SECRET_KEY=secrets.token_urlsafe(64),
        # Production refuses to start without a master key (docs/security-keys.md).
        FINCRM_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        FINCRM_ALLOWED_HOSTS="crm.example.bank",
        FINCRM_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="fincrm.settings",
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_for_production(tmp_path: Path) -> None:
    # The security app's deploy checks want the audit signing key and head export configured.
    key = tmp_path / "audit-signing.key"
    key.write_text(secrets.token_hex(32) + "\n")
    key.chmod(0o600)
    audit = {
        "FINCRM_AUDIT_SIGNING_KEY_FILE": str(key),
        "FINCRM_AUDIT_HEAD_EXPORT_PATH": str(tmp_path / "audit-heads.jsonl"),
    }
    result = _run(
        ["-m", "fincrm", "check", "--deploy", "--fail-level", "WARNING"], _production_env(tmp_path, **audit)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_catches_debug_in_production(tmp_path: Path) -> None:
    """The check above would fail on a real mistake (it is not vacuously clean)."""
    env = _production_env(tmp_path, FINCRM_DEBUG="true")

    result = _run(["-m", "fincrm", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


def test_production_cookies_and_transport(tmp_path: Path) -> None:
    expected = {
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "__Host-fincrm-session",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_NAME": "__Host-fincrm-csrf",
        "LANGUAGE_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "DEBUG": False,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
    }
    script = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{name: getattr(s, name) for name in {list(expected)!r}}}))"
    )

    result = _run(["-c", script], _production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected
