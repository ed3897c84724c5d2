from django.urls import path, re_path

from audience.api import views

# Any endpoint id reaches the view (which explains what is wrong with a bad one); only the in-app
# messages sub-resource is left to its own route.
ENDPOINT_ID = r"(?P<endpoint_id>(?:(?!/inappmessages/?$).)+?)"

urlpatterns = [
    path("apps/<str:application_id>/endpoints", views.EndpointsBatchView.as_view(), name="pinpoint-endpoints"),
    re_path(
        rf"^apps/(?P<application_id>[^/]+)/endpoints/{ENDPOINT_ID}$",
        views.EndpointView.as_view(),
        name="pinpoint-endpoint",
    ),
    path("apps/<str:application_id>/users/<str:user_id>", views.UserEndpointsView.as_view(), name="pinpoint-user"),
    path(
        "apps/<str:application_id>/attributes/<str:attribute_type>",
        views.AttributesView.as_view(),
        name="pinpoint-attributes",
    ),
    path("apps/<str:application_id>/events", views.EventsView.as_view(), name="pinpoint-events"),
]
