from django.urls import URLPattern, URLResolver, path

app_name = "customers"

urlpatterns: list[URLPattern | URLResolver] = []

from fincrm.customers.views import duplicates as duplicate_views  # noqa: E402

# The 360, or for a merged customer a page pointing to the survivor (duplicate_views wraps the 360).
urlpatterns += [path("<int:pk>/", duplicate_views.customer_detail, name="customer-detail")]

from fincrm.customers.views import lists as list_views  # noqa: E402

urlpatterns += [
    path("", list_views.customer_list_view, name="customer-list"),
    path("bulk/", list_views.customer_bulk, name="customer-bulk"),
    path("views/save/", list_views.saved_view_save, name="saved-view-save"),
    path("views/<int:pk>/delete/", list_views.saved_view_delete, name="saved-view-delete"),
    path("views/<int:pk>/default/", list_views.saved_view_default, name="saved-view-default"),
    path("export/", list_views.customer_export, name="customer-export"),
    path("exports/<uuid:pk>/", list_views.export_ready, name="export-ready"),
    path("exports/<uuid:pk>/download/", list_views.export_download, name="export-download"),
    path("export-requests/", list_views.export_request_list, name="export-request-list"),
    path("export-requests/new/", list_views.export_request_create, name="export-request-create"),
    path("export-requests/<int:pk>/decide/", list_views.export_request_decide, name="export-request-decide"),
    path("export-requests/<int:pk>/run/", list_views.export_request_run, name="export-request-run"),
]

from fincrm.customers.views import edit as edit_views  # noqa: E402

urlpatterns += [
    path("new/", edit_views.customer_create, name="customer-create"),
    path("<int:pk>/edit/", edit_views.customer_edit, name="customer-edit"),
    path("<int:pk>/lifecycle/", edit_views.customer_lifecycle, name="customer-lifecycle"),
    path("<int:pk>/transfer/", edit_views.customer_transfer, name="customer-transfer"),
]

from fincrm.customers.views import custom_fields as custom_field_views  # noqa: E402
from fincrm.customers.views import relationships as relationship_views  # noqa: E402
from fincrm.customers.views import tags as tag_views  # noqa: E402

urlpatterns += [
    path("tags/", tag_views.tag_list_view, name="tag-list"),
    path("tags/new/", tag_views.tag_create, name="tag-create"),
    path("tags/<int:pk>/edit/", tag_views.tag_edit, name="tag-edit"),
    path("<int:pk>/tags/", tag_views.customer_tags_edit, name="customer-tags-edit"),
    path("custom-fields/", custom_field_views.custom_field_list, name="custom-field-list"),
    path("custom-fields/new/", custom_field_views.custom_field_create, name="custom-field-create"),
    path("custom-fields/<int:pk>/edit/", custom_field_views.custom_field_edit, name="custom-field-edit"),
    path("<int:pk>/custom-fields/", custom_field_views.custom_values_view, name="custom-values"),
    path("<int:pk>/custom-fields/edit/", custom_field_views.custom_values_edit, name="custom-values-edit"),
    path("<int:pk>/relationships/", relationship_views.relationship_list, name="relationship-list"),
    path("<int:pk>/relationships/new/", relationship_views.relationship_create, name="relationship-create"),
    path("relationships/<int:pk>/end/", relationship_views.relationship_end, name="relationship-end"),
    path("<int:pk>/household/new/", relationship_views.household_create, name="household-create"),
    path("<int:pk>/household/members/", relationship_views.household_member_add, name="household-member-add"),
    path(
        "households/<int:pk>/members/<int:customer_pk>/remove/",
        relationship_views.household_member_remove,
        name="household-member-remove",
    ),
    path("<int:pk>/parent-company/", relationship_views.parent_company_set, name="parent-company-set"),
]

from fincrm.customers.views import search as search_views  # noqa: E402

urlpatterns += [path("search/", search_views.customer_search_view, name="search")]

urlpatterns += [
    path("duplicates/", duplicate_views.duplicate_list_view, name="duplicate-list"),
    path("duplicates/<int:pk>/", duplicate_views.duplicate_compare, name="duplicate-compare"),
    path("duplicates/<int:pk>/dismiss/", duplicate_views.duplicate_dismiss, name="duplicate-dismiss"),
]
