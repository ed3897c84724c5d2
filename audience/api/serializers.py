"""Pinpoint shapes of the audience: EndpointResponse and friends."""

from rest_framework import serializers

from audience.models import AudienceUser, Endpoint, ExportJob, ImportFormat, ImportJob
from audience.validation import DEMOGRAPHIC_COLUMNS, LOCATION_NUMBER_COLUMNS, LOCATION_TEXT_COLUMNS
from engage.api.formats import iso8601
from projects.models import Project


def _members(endpoint: Endpoint, columns: dict) -> dict:
    values = {}
    for member, column in columns.items():
        name = column[0] if isinstance(column, tuple) else column
        value = getattr(endpoint, name)
        if value not in ("", None):
            values[member] = value
    return values


def endpoint_response(endpoint: Endpoint, user_attributes: dict | None) -> dict:
    """EndpointResponse; members never set are left out, as Pinpoint does."""
    body = {
        "ApplicationId": endpoint.project_id,
        "Id": endpoint.endpoint_id,
        "CohortId": str(endpoint.cohort_id),
        "CreationDate": iso8601(endpoint.creation_date),
        "EffectiveDate": iso8601(endpoint.effective_date),
        "EndpointStatus": endpoint.status,
        "OptOut": endpoint.opt_out,
        "Attributes": endpoint.attributes,
        "Metrics": endpoint.metrics,
    }
    for member, value in (
        ("ChannelType", endpoint.channel_type),
        ("Address", endpoint.address),
        ("RequestId", endpoint.request_id),
    ):
        if value:
            body[member] = value
    demographic = _members(endpoint, DEMOGRAPHIC_COLUMNS)
    location = {**_members(endpoint, LOCATION_TEXT_COLUMNS), **_members(endpoint, LOCATION_NUMBER_COLUMNS)}
    if demographic:
        body["Demographic"] = demographic
    if location:
        body["Location"] = location
    if endpoint.user_id:
        body["User"] = {"UserId": endpoint.user_id, "UserAttributes": user_attributes or {}}
    return body


def endpoint_responses(project: Project, endpoints: list[Endpoint]) -> list[dict]:
    """EndpointResponses for many endpoints with one query for their users' attributes."""
    user_ids = {e.user_id for e in endpoints if e.user_id}
    attributes = dict(
        AudienceUser.objects.filter(project=project, user_id__in=user_ids).values_list("user_id", "attributes")
    )
    return [endpoint_response(e, attributes.get(e.user_id)) for e in endpoints]


class ImportJobRequest(serializers.Serializer):
    Format = serializers.ChoiceField(choices=ImportFormat.values)
    S3Url = serializers.CharField(max_length=1024)
    RoleArn = serializers.CharField(max_length=2048)
    DefineSegment = serializers.BooleanField(required=False, default=False)
    # Absent means true: an import registers its endpoints unless told not to (as the console does).
    RegisterEndpoints = serializers.BooleanField(required=False, default=True)
    SegmentId = serializers.CharField(required=False, allow_blank=True, max_length=32)
    SegmentName = serializers.CharField(required=False, allow_blank=True, max_length=256)
    ExternalId = serializers.CharField(required=False, allow_blank=True, max_length=256)


class ExportJobRequest(serializers.Serializer):
    S3UrlPrefix = serializers.CharField(max_length=1024)
    RoleArn = serializers.CharField(max_length=2048)
    SegmentId = serializers.CharField(required=False, allow_blank=True, max_length=32)
    SegmentVersion = serializers.IntegerField(required=False, min_value=1)


def _job_counts(job: ImportJob | ExportJob) -> dict:
    body = {
        "ApplicationId": job.project_id,
        "Id": job.id,
        "JobStatus": job.status,
        "CreationDate": iso8601(job.creation_date),
        "CompletedPieces": job.completed_pieces,
        "FailedPieces": job.failed_pieces,
        "TotalPieces": job.total_pieces,
        "TotalProcessed": job.total_processed,
        "TotalFailures": job.total_failures,
        "Failures": job.failures,
    }
    if job.completion_date:
        body["CompletionDate"] = iso8601(job.completion_date)
    return body


def import_job_response(job: ImportJob) -> dict:
    """ImportJobResponse; Definition echoes the request, with the SegmentId the job writes to."""
    definition = {
        "Format": job.format,
        "S3Url": job.s3_url,
        "RoleArn": job.role_arn,
        "DefineSegment": job.define_segment,
        "RegisterEndpoints": job.register_endpoints,
    }
    if job.segment_id:
        definition["SegmentId"] = job.segment_id
    if job.segment_name:
        definition["SegmentName"] = job.segment_name
    if job.external_id:
        definition["ExternalId"] = job.external_id
    return {**_job_counts(job), "Type": "IMPORT", "Definition": definition}


def export_job_response(job: ExportJob) -> dict:
    """ExportJobResponse."""
    definition = {"S3UrlPrefix": job.s3_url_prefix, "RoleArn": job.role_arn}
    if job.segment_id:
        definition["SegmentId"] = job.segment_id
    if job.segment_version is not None:
        definition["SegmentVersion"] = job.segment_version
    return {**_job_counts(job), "Type": "EXPORT", "Definition": definition}
