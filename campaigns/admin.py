from django.contrib import admin
from django.http import HttpRequest

from campaigns.models import Channel, MessageTemplate, TemplateVersion

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


# Message templates
# Read-only: templates change through campaigns.templates (name rules, size caps, Handlebars
# syntax, version numbering), from the Pinpoint API or the Templates pages. Deleting is allowed.


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    extra = 0
    fields = ["version", "description", "default_substitutions", "content", "last_modified_date"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: MessageTemplate | None = None) -> bool:
        return False


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "template_type", "active_version", "latest_version", "last_modified_date", "created_by"]
    list_filter = ["template_type"]
    search_fields = ["name"]
    fields = [
        "name",
        "template_type",
        "active_version",
        "latest_version",
        "tags",
        "creation_date",
        "last_modified_date",
    ]
    readonly_fields = fields
    inlines = [TemplateVersionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MessageTemplate | None = None) -> bool:
        return False
