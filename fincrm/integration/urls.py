from django.urls import URLPattern, URLResolver, path

from fincrm.integration import views

app_name = "integration"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.batch_list, name="batch-list"),
    path("new/", views.batch_new, name="batch-new"),
    path("templates/", views.template_list, name="template-list"),
    path("templates/new/", views.template_new, name="template-new"),
    path("templates/<int:pk>/edit/", views.template_edit, name="template-edit"),
    path("templates/<int:pk>/delete/", views.template_delete, name="template-delete"),
    path("<uuid:pk>/", views.batch_detail, name="batch-detail"),
    path("<uuid:pk>/status/", views.batch_status, name="batch-status"),
    path("<uuid:pk>/mapping/", views.batch_mapping, name="batch-mapping"),
    path("<uuid:pk>/check/", views.batch_queue, {"dry_run": True}, name="batch-check"),
    path("<uuid:pk>/run/", views.batch_queue, {"dry_run": False}, name="batch-run"),
    path("<uuid:pk>/cancel/", views.batch_cancel, name="batch-cancel"),
    path("<uuid:pk>/errors.csv", views.batch_issues_csv, name="batch-issues"),
    path("<uuid:pk>/rejects/", views.batch_rejects, name="batch-rejects"),
    path("<uuid:pk>/save-template/", views.batch_save_template, name="batch-save-template"),
]
