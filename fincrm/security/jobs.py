"""Background jobs of the security app: sensitive-access grants past their time become expired."""

from __future__ import annotations

from fincrm.platform.actor import Actor
from fincrm.platform.jobs import periodic
from fincrm.security.grants import grants_expire


@periodic("security.grants_expire", every=300)
def expire_grants() -> None:
    # Unmasking checks expires_at itself, so a grant stops working on time even between runs.
    grants_expire(actor=Actor.system("security.grants_expire"))
