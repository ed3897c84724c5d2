from django.urls import path, re_path

from audience.api import kpi_views, segment_views, stream_views, views

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
    path("apps/<str:application_id>/eventstream", stream_views.EventStreamView.as_view(), name="pinpoint-event-stream"),
    path("apps/<str:application_id>/jobs/import", views.ImportJobsView.as_view(), name="pinpoint-import-jobs"),
    path(
        "apps/<str:application_id>/jobs/import/<str:job_id>", views.ImportJobView.as_view(), name="pinpoint-import-job"
    ),
    path("apps/<str:application_id>/jobs/export", views.ExportJobsView.as_view(), name="pinpoint-export-jobs"),
    path(
        "apps/<str:application_id>/jobs/export/<str:job_id>", views.ExportJobView.as_view(), name="pinpoint-export-job"
    ),
    path(
        "apps/<str:application_id>/segments/<str:segment_id>/jobs/import",
        views.SegmentImportJobsView.as_view(),
        name="pinpoint-segment-import-jobs",
    ),
    path(
        "apps/<str:application_id>/segments/<str:segment_id>/jobs/export",
        views.SegmentExportJobsView.as_view(),
        name="pinpoint-segment-export-jobs",
    ),
    path("apps/<str:application_id>/segments", segment_views.SegmentsView.as_view(), name="pinpoint-segments"),
    path(
        "apps/<str:application_id>/segments/<str:segment_id>",
        segment_views.SegmentView.as_view(),
        name="pinpoint-segment",
    ),
    path(
        "apps/<str:application_id>/segments/<str:segment_id>/versions",
        segment_views.SegmentVersionsView.as_view(),
        name="pinpoint-segment-versions",
    ),
    path(
        "apps/<str:application_id>/segments/<str:segment_id>/versions/<str:version>",
        segment_views.SegmentVersionView.as_view(),
        name="pinpoint-segment-version",
    ),
    path(
        "apps/<str:application_id>/kpis/daterange/<str:kpi_name>",
        kpi_views.ApplicationKpiView.as_view(),
        name="pinpoint-application-kpi",
    ),
]
