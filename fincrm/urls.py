from django.urls import include, path
from django.views.i18n import set_language

from fincrm.api import api

urlpatterns = [
    path("i18n/setlang/", set_language, name="set_language"),
    path("api/v1/", api.urls),
    path("admin/org/", include("fincrm.org.urls")),
    path("security/", include("fincrm.audit.urls")),
    path("sensitive/", include("fincrm.security.urls")),
    path("customers/", include("fincrm.customers.urls")),
    path("privacy/", include("fincrm.privacy.urls")),
    path("products/", include("fincrm.products.urls")),
    path("imports/", include("fincrm.integration.urls")),
    path("", include("fincrm.users.urls")),
    path("", include("fincrm.web.urls")),
]

handler400 = "fincrm.web.views.bad_request"
handler403 = "fincrm.web.views.forbidden"
handler404 = "fincrm.web.views.not_found"
handler500 = "fincrm.web.views.server_error"
