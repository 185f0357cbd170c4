"""The feed API (``data.feed``): post a core-system feed, read the feed log.

``POST /feeds`` is ``multipart/form-data`` with the part ``file``: a zip of the feed folder
(``manifest.json`` and its CSV files, at the top of the zip or in one folder named
``<system>-<sequence>``). The feed is applied before the answer: 201 applied, 200 already applied
(nothing done), 409 ``feed_waiting`` (an earlier sequence is missing; post it first, then this one
again), 422 ``feed_<reason>`` (refused or failed: nothing written; the reason is also in the feed
log). The upload is kept encrypted at rest while it is applied, then deleted.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Router, Schema
from ninja.errors import AuthenticationError
from ninja.files import UploadedFile
from ninja.pagination import paginate
from ninja.responses import Status

from fincrm.integration import feeds, readers, uploads
from fincrm.integration.models import FeedRun
from fincrm.platform.access import require_permission
from fincrm.platform.actor import Actor
from fincrm.platform.errors import ServiceError
from fincrm.platform.pagination import CursorPagination

router = Router(tags=["feeds"])


class FeedRunOut(Schema):
    id: int
    system: str
    sequence: int
    business_date: datetime.date
    status: str
    manifest_sha256: str
    counts: dict[str, dict[str, int]]
    error: str
    received_at: datetime.datetime
    applied_at: datetime.datetime | None
    seconds: float | None


class FeedApplyOut(Schema):
    status: str
    system: str
    sequence: int
    message: str
    run: FeedRunOut | None


def _actor(request: HttpRequest) -> Actor:
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None or not actor.is_authenticated:
        raise AuthenticationError()
    return actor


def _answer(outcome: feeds.FeedOutcome) -> Status[dict[str, Any]]:
    body = {
        "status": outcome.status,
        "system": outcome.system,
        "sequence": outcome.sequence,
        "message": outcome.message,
        "run": outcome.run,
    }
    if outcome.status == feeds.WAITING:
        raise ServiceError(outcome.message, code="feed_waiting", status=409)
    if outcome.status == feeds.FAILED:
        reason = "feed_failed"
        raise ServiceError(outcome.message, code=reason, status=422)
    return Status(201 if outcome.status == feeds.APPLIED else 200, body)


@router.post("/feeds", response={200: FeedApplyOut, 201: FeedApplyOut}, url_name="feed-apply")
def post_feed(
    request: HttpRequest,
    file: UploadedFile | None = File(None),  # noqa: B008 - ninja's way of declaring a part
) -> Any:
    """Apply a feed posted as a zip (see the module docstring)."""
    actor = _actor(request)
    require_permission(actor, feeds.PERMISSION)  # before looking at the body
    if file is None:
        raise ServiceError(
            _("Please correct the marked field."),
            code="validation_error",
            fields={"file": [_("Attach the feed as a zip file in the part named file.")]},
            status=422,
        )
    limit = feeds.feed_size_limit()
    upload_id = uuid.uuid4()
    try:
        stored = uploads.upload_store(upload_id, file.chunks(), max_bytes=limit)
    except readers.FileRejected as rejected:
        raise ServiceError(
            rejected.message, code=f"feed_{rejected.code}", fields={"file": [rejected.message]}, status=413
        ) from None
    try:
        with (
            uploads.upload_open(stored.path, upload_id) as stream,
            feeds.zip_source(stream, max_bytes=limit) as source,
        ):
            outcome = feeds.feed_apply(actor=actor, source=source)
    finally:
        uploads.upload_delete(stored.path)
    return _answer(outcome)


@router.get("/feeds", response=list[FeedRunOut], url_name="feed-list")
@paginate(CursorPagination, ordering=("-received_at", "-id"))
def list_feeds(request: HttpRequest, system: str | None = None) -> Any:
    """The feed log, newest first (optionally one source system's)."""
    return feeds.feed_run_list(actor=_actor(request), system=system)


@router.get("/feeds/{system}/{sequence}", response=FeedRunOut, url_name="feed-get")
def get_feed(request: HttpRequest, system: str, sequence: int) -> FeedRun:
    """One feed of the log: its status, counts per entity and, when it failed, the error."""
    return feeds.access_feed_run(_actor(request), system, sequence)
