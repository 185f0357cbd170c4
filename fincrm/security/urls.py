from django.urls import URLPattern, URLResolver, path

from fincrm.security import views

app_name = "security"

urlpatterns: list[URLPattern | URLResolver] = [
    path("step-up/", views.step_up, name="step-up"),
    path("unmask/<int:customer_id>/<slug:field>/", views.unmask_view, name="unmask"),
    path("grants/", views.grant_list, name="grant-list"),
    path("grants/new/", views.grant_request_view, name="grant-request"),
    path("grants/report/", views.grant_report_view, name="grant-report"),
    path("grants/<int:pk>/", views.grant_decide, name="grant-decide"),
]
