"""The REST API under /api/v1: one NinjaAPI, each app contributing its router.

Every endpoint requires authentication (a bearer token or the browser session, see
fincrm/users/api_auth.py) unless it declares ``auth=None``.
"""

from fincrm.customers.api import router as customers_router
from fincrm.integration.api import router as imports_router
from fincrm.integration.api_export import router as export_router
from fincrm.integration.api_feeds import router as feeds_router
from fincrm.org.api import router as org_router
from fincrm.platform.api import build_api
from fincrm.portfolio.api import router as portfolio_router
from fincrm.privacy.api import router as privacy_router
from fincrm.products.api import router as products_router
from fincrm.security.api import router as security_router
from fincrm.users.api import router as users_router
from fincrm.users.api_auth import default_auth

api = build_api(auth=default_auth())
api.add_router("", org_router)
api.add_router("", users_router)
api.add_router("", customers_router)
api.add_router("", privacy_router)
api.add_router("", security_router)
api.add_router("", products_router)
api.add_router("", portfolio_router)
api.add_router("", export_router)
api.add_router("", imports_router)
api.add_router("", feeds_router)
