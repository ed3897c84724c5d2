from django.contrib import admin
from django.http import HttpRequest

from campaigns.models import Campaign, CampaignActivity, Channel, MessageTemplate, TemplateVersion

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


# Campaigns
# Read-only: campaigns change through campaigns.campaigns (validation, versions, the scheduler's
# columns) from the Pinpoint API or the Campaigns pages, and are deleted there too (deleting ends
# their queued deliveries), so the admin neither adds, changes nor deletes them.


class CampaignActivityInline(admin.TabularInline):
    model = CampaignActivity
    extra = 0
    fields = ["treatment_id", "state", "result", "scheduled_start", "total_endpoint_count", "successful_endpoint_count"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "state", "frequency", "next_run_at", "version", "last_modified_date"]
    list_filter = ["state", "frequency"]
    search_fields = ["name", "id", "project__name"]
    fields = [
        "id",
        "project",
        "name",
        "state",
        "frequency",
        "segment",
        "version",
        "next_run_at",
        "definition",
        "tags",
        "creation_date",
        "last_modified_date",
    ]
    readonly_fields = fields
    inlines = [CampaignActivityInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return False
