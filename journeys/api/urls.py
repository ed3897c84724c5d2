from django.urls import path

from journeys.api import views

APP = "apps/<str:application_id>/journeys"

urlpatterns = [
    path(APP, views.JourneysView.as_view(), name="pinpoint-journeys"),
    path(f"{APP}/<str:journey_id>", views.JourneyView.as_view(), name="pinpoint-journey"),
    path(f"{APP}/<str:journey_id>/state", views.JourneyStateView.as_view(), name="pinpoint-journey-state"),
    path(f"{APP}/<str:journey_id>/runs", views.JourneyRunsView.as_view(), name="pinpoint-journey-runs"),
]
