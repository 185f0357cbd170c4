from django.urls import URLPattern, path

from fincrm.audit import views

app_name = "audit"

urlpatterns: list[URLPattern] = [
    path("alerts/", views.alert_list, name="alert-list"),
    path("alerts/<int:pk>/acknowledge/", views.alert_ack, name="alert-ack"),
    path("audit/", views.event_list, name="event-list"),
    path("audit/export/", views.event_export, name="event-export"),
    path("audit/<int:pk>/", views.event_detail, name="event-detail"),
]
