"""URLs of the Audience import and export pages (included by audience/urls.py)."""

from django.urls import path

from audience import import_views

urlpatterns = [
    path("audience/import/", import_views.imports, name="import"),
    path("audience/import/<str:job_id>/", import_views.import_job, name="import_job"),
    path("audience/import/<str:job_id>/confirm/", import_views.import_confirm, name="import_confirm"),
    path("audience/import/<str:job_id>/cancel/", import_views.import_cancel, name="import_cancel"),
    path("audience/import/<str:job_id>/failed-rows.csv", import_views.import_failures, name="import_failures"),
    path("audience/export.jsonl.gz", import_views.export_endpoints, name="export"),
]
