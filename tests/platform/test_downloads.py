"""The one way a page or an API call hands over a file."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse

from fincrm.platform.downloads import download


def test_bytes_are_one_response_saved_under_the_name_and_never_kept() -> None:
    response = download(b"a,b\n", content_type="text/csv; charset=utf-8", filename="import-errors-7.csv")
    assert isinstance(response, HttpResponse)
    assert response.content == b"a,b\n"
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="import-errors-7.csv"'
    assert response["Cache-Control"] == "no-store"


def test_lines_are_streamed() -> None:
    response = download(iter(["a\n", "b\n"]), content_type="text/csv", filename="audit.csv")
    assert isinstance(response, StreamingHttpResponse)
    assert b"".join(response.streaming_content) == b"a\nb\n"
    assert response["Cache-Control"] == "no-store"


def test_a_chinese_file_name_is_sent_as_rfc_6266_says() -> None:
    response = download(b"{}", content_type="application/json", filename="客户名单.xlsx")
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''%E5%AE%A2%E6%88%B7%E5%90%8D%E5%8D%95.xlsx"
    )
