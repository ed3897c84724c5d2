from django.urls import path

from campaigns.api import channel_views
from campaigns.models import ChannelKind

urlpatterns = [
    path("apps/<str:application_id>/channels", channel_views.ChannelsView.as_view(), name="pinpoint-channels"),
    *(
        path(
            f"apps/<str:application_id>/channels/{kind.lower()}",
            channel_views.ChannelView.as_view(kind=kind),
            name=f"pinpoint-channel-{kind.lower()}",
        )
        for kind in ChannelKind
    ),
]
