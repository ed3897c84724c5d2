from django.urls import path, re_path

from projects.api import views

urlpatterns = [
    path("apps", views.AppsView.as_view(), name="pinpoint-apps"),
    path("apps/<str:application_id>", views.AppView.as_view(), name="pinpoint-app"),
    path("apps/<str:application_id>/settings", views.AppSettingsView.as_view(), name="pinpoint-app-settings"),
    re_path(r"^tags/(?P<resource_arn>.+)$", views.TagsView.as_view(), name="pinpoint-tags"),
]
