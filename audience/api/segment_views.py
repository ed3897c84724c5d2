"""Pinpoint segment operations: CreateSegment, GetSegment(s), UpdateSegment, DeleteSegment,
GetSegmentVersion(s)."""

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audience.compiler import SegmentInvalid
from audience.models import Segment, SegmentType, SegmentVersion
from audience.segments import segment_create, segment_delete, segment_update
from engage.api.errors import BadRequest, NotFound
from engage.api.formats import iso8601
from engage.api.paging import page, paginate
from projects.api.mixins import ProjectScopedMixin
from projects.api.serializers import TagMapField


class WriteSegmentRequest(serializers.Serializer):
    Name = serializers.CharField(required=False, allow_blank=True, max_length=256)
    Dimensions = serializers.DictField(required=False)
    SegmentGroups = serializers.DictField(required=False)
    tags = TagMapField(required=False)


def segment_response(segment: Segment, version: SegmentVersion | None = None) -> dict:
    """SegmentResponse of the segment, or of one of its stored versions."""
    definition = (
        version.definition if version else {"Dimensions": segment.dimensions, "SegmentGroups": segment.segment_groups}
    )
    body = {
        "ApplicationId": segment.project_id,
        "Arn": segment.arn,
        "CreationDate": iso8601(segment.creation_date),
        "Id": segment.id,
        "LastModifiedDate": iso8601(version.created_at if version else segment.last_modified_date),
        "Name": version.name if version else segment.name,
        "SegmentType": segment.segment_type,
        "tags": segment.tags,
        "Version": version.version if version else segment.version,
    }
    for member in ("Dimensions", "SegmentGroups"):
        if definition.get(member) is not None:
            body[member] = definition[member]
    if segment.segment_type == SegmentType.IMPORT:
        body["ImportDefinition"] = {
            "ChannelCounts": segment.import_channel_counts,
            "ExternalId": segment.import_external_id,
            "Format": segment.import_format,
            "RoleArn": segment.import_role_arn,
            "S3Url": segment.import_s3_url,
            "Size": segment.import_size,
        }
    return body


def _segment(project, segment_id: str) -> Segment:
    segment = Segment.objects.filter(project=project, pk=segment_id).select_related("project").first()
    if segment is None:
        raise NotFound("Segment not found")
    return segment


def _payload(request: Request) -> dict:
    payload = WriteSegmentRequest(data=request.data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


class SegmentsView(ProjectScopedMixin, APIView):
    """GetSegments, CreateSegment."""

    def get(self, request: Request, application_id: str) -> Response:
        items, token = paginate(
            Segment.objects.filter(project=self.project).select_related("project"),
            page_size=request.query_params.get("page-size"),
            token=request.query_params.get("token"),
            order=("creation_date", "id"),
        )
        return Response(page([segment_response(s) for s in items], token))

    def post(self, request: Request, application_id: str) -> Response:
        data = _payload(request)
        if "Dimensions" not in data and "SegmentGroups" not in data:
            raise BadRequest("A segment needs Dimensions or SegmentGroups.")
        try:
            segment = segment_create(
                self.project,
                name=data.get("Name", ""),
                dimensions=data.get("Dimensions"),
                groups=data.get("SegmentGroups"),
                tags=data.get("tags"),
            )
        except SegmentInvalid as error:
            raise BadRequest(str(error)) from None
        return Response(segment_response(segment), status=status.HTTP_201_CREATED)


class SegmentView(ProjectScopedMixin, APIView):
    """GetSegment, UpdateSegment (a new Version each time; tags are ignored, as Pinpoint does), DeleteSegment."""

    def get(self, request: Request, application_id: str, segment_id: str) -> Response:
        return Response(segment_response(_segment(self.project, segment_id)))

    def put(self, request: Request, application_id: str, segment_id: str) -> Response:
        data = _payload(request)
        try:
            segment = segment_update(
                _segment(self.project, segment_id),
                name=data.get("Name"),
                dimensions=data.get("Dimensions"),
                groups=data.get("SegmentGroups"),
            )
        except SegmentInvalid as error:
            raise BadRequest(str(error)) from None
        return Response(segment_response(segment))

    def delete(self, request: Request, application_id: str, segment_id: str) -> Response:
        segment = _segment(self.project, segment_id)
        body = segment_response(segment)
        segment_delete(segment)
        return Response(body)


class SegmentVersionsView(ProjectScopedMixin, APIView):
    """GetSegmentVersions. Imported segments keep no history of their members: their current version only."""

    def get(self, request: Request, application_id: str, segment_id: str) -> Response:
        segment = _segment(self.project, segment_id)
        if segment.segment_type == SegmentType.IMPORT:
            return Response(page([segment_response(segment)], None))
        items, token = paginate(
            SegmentVersion.objects.filter(segment=segment),
            page_size=request.query_params.get("page-size"),
            token=request.query_params.get("token"),
            order=("version",),
        )
        return Response(page([segment_response(segment, v) for v in items], token))


class SegmentVersionView(ProjectScopedMixin, APIView):
    """GetSegmentVersion."""

    def get(self, request: Request, application_id: str, segment_id: str, version: str) -> Response:
        segment = _segment(self.project, segment_id)
        if not version.isdigit():
            raise BadRequest("version must be a whole number.")
        if int(version) == segment.version:
            return Response(segment_response(segment))
        stored = SegmentVersion.objects.filter(segment=segment, version=int(version)).first()
        if stored is None:
            raise NotFound(f"Segment {segment.id} has no version {version}")
        return Response(segment_response(segment, stored))
