"""The audience in the admin. Endpoints import and export with django-import-export in Pinpoint's
CSV columns (audience.resources); jobs are read-only records of what ran."""

from django import forms
from django.contrib import admin, messages
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ExportForm, ImportForm
from import_export.results import RowResult

from audience.models import (
    AttributeDefinition,
    AudienceUser,
    Endpoint,
    Event,
    EventStream,
    ExportJob,
    ImportFailure,
    ImportJob,
    Segment,
)
from audience.resources import EndpointResource
from projects.models import Project


class EndpointImportForm(ImportForm):
    project = forms.ModelChoiceField(queryset=Project.objects.all(), help_text="The project the endpoints join.")


class EndpointConfirmImportForm(ConfirmImportForm):
    project = forms.ModelChoiceField(queryset=Project.objects.all(), widget=forms.HiddenInput())


@admin.register(Endpoint)
class EndpointAdmin(ImportExportMixin, admin.ModelAdmin):
    resource_classes = [EndpointResource]
    import_form_class = EndpointImportForm
    confirm_form_class = EndpointConfirmImportForm
    export_form_class = ExportForm  # the columns follow the data (one per attribute value), not a field list
    skip_admin_log = True  # rows are written set-based; there are no per-row instances to log
    list_display = ["endpoint_id", "project", "channel_type", "address", "user_id", "status", "opt_out"]
    list_filter = ["channel_type", "status", "opt_out"]
    search_fields = ["key", "address", "user_id", "project__id"]
    list_select_related = ["project"]
    readonly_fields = ["key", "cohort_id", "creation_date", "effective_date", "request_id", "last_active_at"]
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page

    def get_import_resource_kwargs(self, request, **kwargs) -> dict:
        form = kwargs.get("form")
        project = form.cleaned_data.get("project") if form is not None and hasattr(form, "cleaned_data") else None
        return {"project": project}

    def get_confirm_form_initial(self, request, import_form) -> dict:
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["project"] = import_form.cleaned_data["project"].pk
        return initial

    def add_success_message(self, result, request) -> None:
        super().add_success_message(result, request)
        skipped = [row.diff[-1] for row in result.rows if row.import_type == RowResult.IMPORT_TYPE_SKIP]
        if skipped:
            shown = "; ".join(skipped[:20]) + ("; …" if len(skipped) > 20 else "")
            messages.warning(request, f"{len(skipped)} row(s) were not imported: {shown}")


@admin.register(AudienceUser)
class AudienceUserAdmin(admin.ModelAdmin):
    list_display = ["user_id", "project", "updated_at"]
    search_fields = ["user_id", "project__id"]
    list_select_related = ["project"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["event_type", "endpoint_key", "project", "timestamp"]
    list_filter = ["event_type"]
    search_fields = ["endpoint_key", "event_type", "project__id"]
    list_select_related = ["project"]
    show_full_result_count = False


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "project", "created_at", "removed_at"]
    list_filter = ["kind", ("removed_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "project__id"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "project", "segment_type", "version", "last_modified_date"]
    list_filter = ["segment_type"]
    search_fields = ["name", "id", "project__id"]
    readonly_fields = ["id", "creation_date", "last_modified_date", "import_size", "import_channel_counts"]


class JobAdmin(admin.ModelAdmin):
    list_filter = ["status"]
    search_fields = ["id", "project__id"]
    list_select_related = ["project"]

    def has_add_permission(self, request) -> bool:
        return False  # jobs are created through the API or the Audience page, which run them

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(JobAdmin):
    list_display = ["id", "project", "status", "format", "s3_url", "total_processed", "total_failures", "creation_date"]


@admin.register(ExportJob)
class ExportJobAdmin(JobAdmin):
    list_display = ["id", "project", "status", "s3_url_prefix", "total_processed", "creation_date"]


@admin.register(ImportFailure)
class ImportFailureAdmin(admin.ModelAdmin):
    """Every row an import refused; search by job id."""

    list_display = ["job", "file", "line", "reason"]
    search_fields = ["job__id"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EventStream)
class EventStreamAdmin(admin.ModelAdmin):
    """Where each project's events are shipped and how it goes (last error, records sent). Read-only:
    PutEventStream and DeleteEventStream (or the Event stream page) change it."""

    list_display = ["project", "destination_stream_arn", "records_sent", "last_success_at", "attempts", "last_error_at"]
    search_fields = ["project__id", "project__name", "destination_stream_arn"]
    readonly_fields = [f.name for f in EventStream._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # created with PutEventStream, which checks the destination

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
