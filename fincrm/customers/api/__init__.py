"""The customers API: one router per area, mounted under /api/v1."""

from ninja import Router

router = Router(tags=["customers"])

# First: /customers/search must come before the /customers/{customer_id} patterns.
from fincrm.customers.api import search  # noqa: E402

router.add_router("", search.router)

# Also before them: POST /customers/merge.
from fincrm.customers.api import duplicates  # noqa: E402

router.add_router("", duplicates.router)

from fincrm.customers.api import profile  # noqa: E402

router.add_router("", profile.router)

from fincrm.customers.api import lists  # noqa: E402

router.add_router("", lists.router)

from fincrm.customers.api import custom_fields, relationships, tags  # noqa: E402

router.add_router("", tags.router)
router.add_router("", custom_fields.router)
router.add_router("", relationships.router)

from fincrm.customers.api import customers  # noqa: E402

router.add_router("", customers.router)
