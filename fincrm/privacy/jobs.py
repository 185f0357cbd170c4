"""Background entry points of the privacy app."""

from __future__ import annotations

import datetime

from fincrm.platform.actor import Actor
from fincrm.platform.jobs import periodic
from fincrm.privacy import services


@periodic("privacy.retention.expire", at=datetime.time(2, 30))
def expire_retention() -> None:
    """Nightly: anonymize restricted customers whose retention duty has ended."""
    services.retention_expire(actor=Actor.system("privacy.retention.expire"))
