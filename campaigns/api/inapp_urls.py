from django.urls import re_path

from campaigns.api import inapp_views

urlpatterns = [
    re_path(
        r"^apps/(?P<application_id>[^/]+)/endpoints/(?P<endpoint_id>.+?)/inappmessages$",
        inapp_views.InAppMessagesView.as_view(),
        name="pinpoint-inapp-messages",
    ),
]
