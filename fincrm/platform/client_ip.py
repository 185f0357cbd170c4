"""The client's address: from the configured trusted-proxy header, else the socket address.

A header is trusted only when an operator names it (FINCRM_TRUSTED_PROXY_HEADER); a client
cannot choose its own address by sending X-Forwarded-For to a server that is not behind a proxy.
With a list (X-Forwarded-For), the right-most entry is the one the trusted proxy appended.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(value: str) -> str | None:
    candidate = value.strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    socket_address = _valid(request.META.get("REMOTE_ADDR", "")) or "0.0.0.0"  # noqa: S104
    header = settings.FINCRM_TRUSTED_PROXY_HEADER
    if not header:
        return socket_address
    meta_key = "HTTP_" + header.upper().replace("-", "_")
    raw = request.META.get(meta_key, "")
    if not raw:
        return socket_address
    return _valid(raw.split(",")[-1]) or socket_address
