from django.contrib import admin
from django.http import HttpRequest

from campaigns.models import Channel

# Channels
# Read-only: channels change through channel_update (validation, versions, encryption), from the
# Pinpoint API or the Channels page. The encrypted secrets are never shown.


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["kind", "project", "enabled", "version", "last_modified_date", "last_modified_by"]
    list_filter = ["kind", "enabled"]
    search_fields = ["project__name", "project__id"]
    fields = ["project", "kind", "enabled", "version", "settings", "creation_date", "last_modified_date"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Channel | None = None) -> bool:
        return False
