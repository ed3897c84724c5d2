from django.contrib.auth import views as auth_views
from django.urls import path

from projects import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/new/", views.project_new, name="project_new"),
    path("projects/switch/", views.project_switch, name="project_switch"),
    path("settings/", views.project_settings, name="project_settings"),
    path("settings/name/", views.project_rename_view, name="project_rename"),
    path("settings/delete/", views.project_delete_view, name="project_delete"),
    path("settings/members/", views.member_add, name="member_add"),
    path("settings/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("settings/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("account/keys/", views.access_keys, name="access_keys"),
    path("account/keys/<str:access_key_id>/revoke/", views.access_key_revoke_view, name="access_key_revoke"),
]
