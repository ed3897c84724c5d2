from django.urls import re_path

from engage.api.views import UnroutedView

# Mounted last under /v1/ by engage/urls.py, after every app's api/urls.py.
fallback_urlpatterns = [re_path(r"^.*$", UnroutedView.as_view(), name="pinpoint-unrouted")]
