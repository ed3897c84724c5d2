from django.contrib import admin
from django.urls import include, path

from audience.api.urls import urlpatterns as audience_api
from campaigns.api.campaign_urls import urlpatterns as campaigns_api
from campaigns.api.channel_urls import urlpatterns as channels_api
from campaigns.api.inapp_urls import urlpatterns as inapp_api
from campaigns.api.message_urls import urlpatterns as messages_api
from campaigns.api.phone_urls import urlpatterns as phone_api
from campaigns.api.template_urls import urlpatterns as templates_api
from engage.api.urls import fallback_urlpatterns
from engage.health import healthz
from engage.metrics import metrics_view
from journeys.api.urls import urlpatterns as journeys_api
from projects.api.urls import urlpatterns as projects_api

# The Pinpoint wire layer: each app's api/urls.py, then the fallback that names unbuilt operations.
pinpoint_api = [
    *projects_api,
    *audience_api,
    *channels_api,
    *templates_api,
    *messages_api,
    *phone_api,
    *inapp_api,
    *campaigns_api,
    *journeys_api,
    *fallback_urlpatterns,
]

# A database error raised outside a view (a middleware reading the session) answers 503, not 500.
handler500 = "engage.dbfaults.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # public: load balancers (docs/production.md)
    path("metrics", metrics_view, name="metrics"),  # loopback or ENGAGE_METRICS_TOKEN
    path("admin/", admin.site.urls),
    path("v1/", include(pinpoint_api)),
    path("", include("projects.urls")),
    path("", include("audience.dashboard_urls")),  # the home page: the project dashboard
    path("", include("audience.urls")),
    path("", include("campaigns.urls")),
    path("", include("campaigns.tracking_urls")),  # public: email links, provider webhooks
    path("", include("journeys.urls")),
]
