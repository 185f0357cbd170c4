from django.urls import path

from fincrm.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("notifications/", views.notifications, name="notifications"),
]
