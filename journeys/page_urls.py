from django.urls import path

from journeys import analytics_pages, pages, views

# Mounted in journeys/urls.py; the list is journeys:journeys (/journeys/), the navigation's link.
urlpatterns = [
    path("journeys/", pages.journey_list, name="journeys"),
    path("journeys/new/", pages.journey_new, name="journey_new"),
    path("journeys/new/save/", views.journey_save, name="journey_create"),
    path("journeys/<str:journey_id>/", pages.journey_editor, name="journey"),
    path("journeys/<str:journey_id>/save/", views.journey_save, name="journey_save"),
    path("journeys/<str:journey_id>/state/", views.journey_state, name="journey_state"),
    path("journeys/<str:journey_id>/metrics/", views.journey_metrics, name="journey_metrics"),
    path("journeys/<str:journey_id>/analytics/", analytics_pages.journey_analytics, name="journey_analytics"),
    path("journeys/<str:journey_id>/funnel.csv", analytics_pages.journey_funnel_csv, name="journey_funnel_csv"),
    path("journeys/<str:journey_id>/daily.csv", analytics_pages.journey_daily_csv, name="journey_daily_csv"),
]
