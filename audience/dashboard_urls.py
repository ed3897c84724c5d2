"""The project dashboard's routes: the site's home page, not namespaced (see audience.dashboard_pages)."""

from django.urls import path

from audience import dashboard_pages

urlpatterns = [
    path("", dashboard_pages.dashboard, name="dashboard"),
    path("dashboard/<slug:table>.csv", dashboard_pages.dashboard_csv, name="dashboard_csv"),
]
