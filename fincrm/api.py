"""The REST API under /api/v1: one NinjaAPI, each app contributing its router."""

from fincrm.org.api import router as org_router
from fincrm.platform.api import build_api
from fincrm.users.api import router as users_router

api = build_api()
api.add_router("", org_router)
api.add_router("", users_router)
