"""The customers API: one router per area, mounted under /api/v1."""

from ninja import Router

router = Router(tags=["customers"])
