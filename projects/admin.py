from django.contrib import admin, messages
from import_export.admin import ImportExportModelAdmin

from projects.models import AccessKey, ApplicationSettings, Membership, Project
from projects.resources import MembershipResource, ProjectResource
from projects.services import access_key_revoke


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class ApplicationSettingsInline(admin.StackedInline):
    model = ApplicationSettings
    can_delete = False
    extra = 0


@admin.register(Project)
class ProjectAdmin(ImportExportModelAdmin):
    resource_classes = [ProjectResource]
    list_display = ["name", "id", "creation_date"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "creation_date"]
    inlines = [ApplicationSettingsInline, MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ImportExportModelAdmin):
    resource_classes = [MembershipResource]
    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["project__name", "project__id", "user__username"]
    autocomplete_fields = ["project", "user"]


@admin.register(ApplicationSettings)
class ApplicationSettingsAdmin(admin.ModelAdmin):
    list_display = ["project", "last_modified_date", "limits_daily", "quiet_time_start", "quiet_time_end"]
    search_fields = ["project__name", "project__id"]
    readonly_fields = ["project", "last_modified_date"]


@admin.register(AccessKey)
class AccessKeyAdmin(admin.ModelAdmin):
    list_display = ["access_key_id", "user", "description", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["access_key_id", "user__username", "description"]
    readonly_fields = ["access_key_id", "user", "created_at", "last_used_at", "revoked_at"]
    fields = ["access_key_id", "user", "description", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # A secret must be shown exactly once; keys are issued on the settings page or by
        # `manage.py create_access_key`, which can show it.
        return False

    @admin.action(description="Revoke selected access keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset:
            access_key_revoke(key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
