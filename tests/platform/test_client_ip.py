"""The client address comes from the trusted-proxy header only when one is configured."""

from __future__ import annotations

from django.test import RequestFactory, override_settings

from fincrm.platform.client_ip import client_ip

factory = RequestFactory()


def test_socket_address_when_no_proxy_is_configured() -> None:
    request = factory.get("/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="1.1.1.1")
    assert client_ip(request) == "10.1.2.3"


@override_settings(FINCRM_TRUSTED_PROXY_HEADER="X-Forwarded-For")
def test_rightmost_entry_of_the_trusted_header() -> None:
    request = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_ip(request) == "203.0.113.9"


@override_settings(FINCRM_TRUSTED_PROXY_HEADER="X-Real-IP")
def test_garbage_in_the_trusted_header_falls_back_to_the_socket() -> None:
    request = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP="<script>")
    assert client_ip(request) == "10.0.0.1"
