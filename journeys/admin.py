from django.contrib import admin
from django.http import HttpRequest

from journeys.models import Journey

# Journeys
# Read-only: journeys change through journeys.journeys (validation, the 409 rules of published
# journeys, states) from the Pinpoint API or the journey editor, and are deleted there too.


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "state", "start_time", "end_time", "last_modified_date"]
    list_filter = ["state"]
    search_fields = ["name", "id", "project__name"]
    fields = [
        "id",
        "project",
        "name",
        "state",
        "segment",
        "start_time",
        "end_time",
        "next_refresh_at",
        "definition",
        "tags",
        "creation_date",
        "last_modified_date",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Journey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Journey | None = None) -> bool:
        return False
