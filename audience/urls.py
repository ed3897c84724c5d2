from django.urls import include, path

from audience import explorer_pages, segment_pages, stream_pages, views

app_name = "audience"
urlpatterns = [
    path("audience/", views.endpoints, name="endpoints"),
    path("", include("audience.import_urls")),
    # Endpoint ids may hold any character but $ { }, slashes and spaces included.
    path("audience/endpoints/<path:endpoint_id>", views.endpoint_detail, name="endpoint"),
    path("audience/event-stream/", stream_pages.event_stream, name="event_stream"),
    path("events/", explorer_pages.events_explorer, name="events"),
    path("events/per-day.csv", explorer_pages.events_days_csv, name="events_days_csv"),
    path("events/per-type.csv", explorer_pages.events_types_csv, name="events_types_csv"),
    path("events/funnel/", explorer_pages.events_funnel, name="events_funnel"),
    path("events/funnel.csv", explorer_pages.events_funnel_csv, name="events_funnel_csv"),
    path("segments/", segment_pages.segments, name="segments"),
    path("segments/new/", segment_pages.segment_new, name="segment_new"),
    path("segments/estimate/", segment_pages.segment_estimate, name="segment_estimate"),
    path("segments/builder/", segment_pages.segment_builder, name="segment_builder"),
    path("segments/<str:segment_id>/", segment_pages.segment_detail, name="segment"),
    path("segments/<str:segment_id>/size/", segment_pages.segment_size, name="segment_size"),
    path("segments/<str:segment_id>/delete/", segment_pages.segment_delete_page, name="segment_delete"),
]
