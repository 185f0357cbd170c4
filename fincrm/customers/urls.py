from django.urls import URLPattern, URLResolver, path  # noqa: F401  (pages are appended below)

app_name = "customers"

urlpatterns: list[URLPattern | URLResolver] = []
