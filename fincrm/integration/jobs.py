"""Background entry points of the integration app."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from fincrm.integration.models import ImportBatch
from fincrm.integration.services import (
    RUN_JOB,
    export_files_purge,
    import_batch_run,
    import_batches_fail,
    import_batches_fail_stuck,
    import_uploads_expire,
)
from fincrm.platform.actor import Actor
from fincrm.platform.jobs import job, periodic
from fincrm.users.actors import actor_for_user


@periodic("integration.exports.purge", every=300)
def purge_expired_exports() -> None:
    """Delete export files whose download link expired (every 5 minutes)."""
    export_files_purge(actor=Actor.system("integration.exports.purge"))


# Not atomic: the importer commits its progress as it goes and writes the batch in its own
# transaction. One attempt: a worker that dies mid-import leaves the batch to the stuck-batch job.
@job(RUN_JOB, max_attempts=1, atomic=False)
def run_import(*, batch_id: str, dry_run: bool) -> None:
    """Check or import a queued batch as the user who created it (with their roles as they are now)."""
    batch = ImportBatch.objects.filter(pk=batch_id, status=ImportBatch.Status.QUEUED).first()
    if batch is None:
        return  # cancelled while it waited, or already run
    user = get_user_model().objects.select_related("org_unit").get(pk=batch.created_by_id)
    if not user.is_active:
        import_batches_fail([batch.pk], Actor.system(RUN_JOB), reason="the importing user was deactivated")
        return
    import_batch_run(actor=actor_for_user(user), batch=batch, dry_run=dry_run)


@periodic("integration.imports.fail_stuck", every=300)
def fail_stuck_imports() -> None:
    """Imports whose worker stopped reporting for 10 minutes failed: say so and delete their file."""
    import_batches_fail_stuck(actor=Actor.system("integration.imports.fail_stuck"))


@periodic("integration.imports.expire_uploads", every=3600)
def expire_import_uploads() -> None:
    """Delete the files of imports left unrun for FINCRM_IMPORT_UPLOAD_KEEP_HOURS (every hour)."""
    import_uploads_expire(actor=Actor.system("integration.imports.expire_uploads"))


# ---- core-system feeds (feeds helper) ----
# Not atomic: a feed is one transaction of its own, and a failure is recorded in another.
@periodic("integration.feeds.poll", every=60, atomic=False)
def poll_feeds() -> None:
    """Apply the complete feeds in FINCRM_FEED_DIR, in sequence order per system (every minute)."""
    from fincrm.integration.feeds import feeds_poll

    feeds_poll(actor=Actor.system("integration.feeds"))
