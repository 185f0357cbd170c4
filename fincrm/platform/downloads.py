"""Files a page or an API call hands over: exports, error reports, a data subject's copy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import overload

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header


@overload
def download(content: bytes, *, content_type: str, filename: str) -> HttpResponse: ...


@overload
def download(content: Iterable[str], *, content_type: str, filename: str) -> StreamingHttpResponse: ...


def download(
    content: bytes | Iterable[str], *, content_type: str, filename: str
) -> HttpResponse | StreamingHttpResponse:
    """A file the browser saves as ``filename`` (RFC 6266: a non-ASCII name as ``filename*``) and
    that no browser or proxy keeps: every download holds customer or audit data. ``content``
    given as lines is streamed."""
    response: HttpResponse | StreamingHttpResponse
    if isinstance(content, bytes):
        response = HttpResponse(content, content_type=content_type)
    else:
        response = StreamingHttpResponse(content, content_type=content_type)
    # Never None for an attachment; "or" tells the type checker so.
    response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
    response["Cache-Control"] = "no-store"
    return response
