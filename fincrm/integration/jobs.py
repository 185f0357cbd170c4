"""Background entry points of the integration app."""

from __future__ import annotations

from fincrm.integration.services import export_files_purge
from fincrm.platform.actor import Actor
from fincrm.platform.jobs import periodic


@periodic("integration.exports.purge", every=300)
def purge_expired_exports() -> None:
    """Delete export files whose download link expired (every 5 minutes)."""
    export_files_purge(actor=Actor.system("integration.exports.purge"))
