from django.urls import path, re_path

from engage.api.openapi import openapi_view
from engage.api.views import UnroutedView

# Mounted last under /v1/ by engage/urls.py, after every app's api/urls.py.
fallback_urlpatterns = [
    path("openapi.json", openapi_view, name="pinpoint-openapi"),  # unsigned, read-only
    re_path(
        r"^[\s\S]*$", UnroutedView.as_view(), name="pinpoint-unrouted"
    ),  # any path, newlines too ((?s:) cannot be reversed)
]
