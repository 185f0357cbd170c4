"""The customers app's background work (auto-loaded at start-up).

Duplicates: a nightly full detection, and an incremental one after every customer create or update
(an outbox handler, so it runs after the change committed and never slows the form down).
"""

from __future__ import annotations

from datetime import time

from fincrm.customers.services.merge import duplicates_detect, duplicates_detect_for
from fincrm.platform import outbox
from fincrm.platform.actor import Actor
from fincrm.platform.jobs import periodic

DUPLICATES_ACTOR = "customers-duplicates"


@periodic("customers.duplicates_detect", at=time(1, 30))
def detect_duplicates_nightly() -> None:
    duplicates_detect(actor=Actor.system(DUPLICATES_ACTOR))


@outbox.handles("customer.created", name="customers.duplicates_detect")
@outbox.handles("customer.updated", name="customers.duplicates_detect")
def detect_duplicates_of_changed(delivery: outbox.Delivery) -> None:
    customer_id = delivery.ids.get("customer_id")
    if isinstance(customer_id, int):
        duplicates_detect_for([customer_id], actor=Actor.system(DUPLICATES_ACTOR))
