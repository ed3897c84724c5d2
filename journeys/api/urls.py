from django.urls import path

from audience.api import kpi_views
from journeys.api import views
from journeys.models import Journey

APP = "apps/<str:application_id>/journeys"

urlpatterns = [
    path(APP, views.JourneysView.as_view(), name="pinpoint-journeys"),
    path(f"{APP}/<str:journey_id>", views.JourneyView.as_view(), name="pinpoint-journey"),
    path(f"{APP}/<str:journey_id>/state", views.JourneyStateView.as_view(), name="pinpoint-journey-state"),
    path(f"{APP}/<str:journey_id>/runs", views.JourneyRunsView.as_view(), name="pinpoint-journey-runs"),
    path(
        f"{APP}/<str:journey_id>/execution-metrics",
        views.JourneyExecutionMetricsView.as_view(),
        name="pinpoint-journey-metrics",
    ),
    path(
        f"{APP}/<str:journey_id>/activities/<str:activity_id>/execution-metrics",
        views.JourneyActivityMetricsView.as_view(),
        name="pinpoint-journey-activity-metrics",
    ),
    path(
        f"{APP}/<str:journey_id>/runs/<str:run_id>/execution-metrics",
        views.JourneyRunMetricsView.as_view(),
        name="pinpoint-journey-run-metrics",
    ),
    path(
        f"{APP}/<str:journey_id>/runs/<str:run_id>/activities/<str:activity_id>/execution-metrics",
        views.JourneyRunActivityMetricsView.as_view(),
        name="pinpoint-journey-run-activity-metrics",
    ),
    path(
        f"{APP}/<str:resource_id>/kpis/daterange/<str:kpi_name>",
        kpi_views.JourneyKpiView.as_view(model=Journey),
        name="pinpoint-journey-kpi",
    ),
]
