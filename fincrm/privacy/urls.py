from django.urls import URLPattern, URLResolver, path

from fincrm.privacy import views

app_name = "privacy"

urlpatterns: list[URLPattern | URLResolver] = [
    path("purposes/", views.purpose_list, name="purpose-list"),
    path("purposes/new/", views.purpose_create, name="purpose-create"),
    path("purposes/<int:pk>/edit/", views.purpose_edit, name="purpose-edit"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/complete/", views.request_close, {"action": "complete"}, name="request-complete"),
    path("requests/<int:pk>/reject/", views.request_close, {"action": "reject"}, name="request-reject"),
    path("requests/<int:pk>/export/", views.request_export, name="request-export"),
    path("customers/<int:customer_id>/consents/", views.consent_page, name="consent-page"),
    path("customers/<int:customer_id>/consents/panel/", views.consent_panel, name="consent-panel"),
    path("customers/<int:customer_id>/consents/record/", views.consent_record, name="consent-record"),
    path(
        "customers/<int:customer_id>/consents/<int:consent_id>/withdraw/",
        views.consent_withdraw,
        name="consent-withdraw",
    ),
    path("customers/<int:customer_id>/requests/new/", views.request_create, name="request-create"),
]
