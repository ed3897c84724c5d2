"""Pinpoint operations on endpoints, users, attributes, events, and import and export jobs."""

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audience.api.serializers import (
    ExportJobRequest,
    ImportJobRequest,
    endpoint_responses,
    export_job_response,
    import_job_response,
)
from audience.exports import ExportDefinition, ExportRequestInvalid, export_job_create
from audience.imports import ImportDefinition, ImportRequestInvalid, import_job_create
from audience.models import AttributeKind, Endpoint, ExportJob, ImportJob, Segment
from audience.services import attributes_remove, endpoint_delete, endpoints_write, events_put, user_endpoints_delete
from audience.validation import (
    MAX_EVENTS_PER_REQUEST,
    EndpointInvalid,
    EventWrite,
    check_endpoint_id,
    parse_endpoint,
    parse_event,
)
from engage.api.errors import BadRequest, NotFound, PayloadTooLarge
from engage.api.paging import page, paginate
from projects.api.mixins import ProjectScopedMixin

MAX_BATCH_ITEMS = 100
MAX_PUT_EVENTS_BYTES = 4 * 1024 * 1024


def _accepted(request: Request) -> Response:
    return Response({"Message": "Accepted", "RequestID": request._request.pinpoint_request_id}, status=202)


def _object(data, what: str) -> dict:
    if not isinstance(data, dict):
        raise BadRequest(f"The request body must be a JSON object ({what}).")
    return data


class EndpointView(ProjectScopedMixin, APIView):
    """UpdateEndpoint, GetEndpoint, DeleteEndpoint."""

    def _get(self, endpoint_id: str) -> Endpoint:
        endpoint = Endpoint.objects.for_project(self.project).filter(key=endpoint_id.lower()).first()
        if endpoint is None:
            raise NotFound("Resource not found")
        return endpoint

    def get(self, request: Request, application_id: str, endpoint_id: str) -> Response:
        return Response(endpoint_responses(self.project, [self._get(endpoint_id)])[0])

    def put(self, request: Request, application_id: str, endpoint_id: str) -> Response:
        try:
            write = parse_endpoint(endpoint_id, _object(request.data, "EndpointRequest"))
            endpoints_write(self.project, [write], request_id=request._request.pinpoint_request_id)
        except EndpointInvalid as error:
            raise BadRequest(str(error)) from None
        return _accepted(request)

    def delete(self, request: Request, application_id: str, endpoint_id: str) -> Response:
        endpoint = self._get(endpoint_id)
        body = endpoint_responses(self.project, [endpoint])[0]
        endpoint_delete(endpoint)
        return Response(body, status=status.HTTP_202_ACCEPTED)


class EndpointsBatchView(ProjectScopedMixin, APIView):
    """UpdateEndpointsBatch: at most 100 items, all or nothing."""

    def put(self, request: Request, application_id: str) -> Response:
        items = _object(request.data, "EndpointBatchRequest").get("Item")
        if not isinstance(items, list) or not items:
            raise BadRequest("Item is required: a list of 1 to 100 endpoints.")
        if len(items) > MAX_BATCH_ITEMS:
            raise BadRequest(f"Item has {len(items)} endpoints; a batch can have at most {MAX_BATCH_ITEMS}.")
        writes = []
        for position, item in enumerate(items):
            try:
                body = _object(item, "EndpointBatchItem")
                writes.append(parse_endpoint(body.get("Id"), {k: v for k, v in body.items() if k != "Id"}))
            except (EndpointInvalid, BadRequest) as error:
                raise BadRequest(f"Item {position}: {error}") from None
        try:
            endpoints_write(self.project, writes, request_id=request._request.pinpoint_request_id)
        except EndpointInvalid as error:
            raise BadRequest(str(error)) from None
        return _accepted(request)


class UserEndpointsView(ProjectScopedMixin, APIView):
    """GetUserEndpoints, DeleteUserEndpoints."""

    def get(self, request: Request, application_id: str, user_id: str) -> Response:
        endpoints = list(Endpoint.objects.for_project(self.project).filter(user_id=user_id).order_by("key"))
        if not endpoints:
            raise NotFound("Resource not found")
        return Response({"Item": endpoint_responses(self.project, endpoints)})

    def delete(self, request: Request, application_id: str, user_id: str) -> Response:
        users_endpoints = list(Endpoint.objects.for_project(self.project).filter(user_id=user_id).order_by("key"))
        if not users_endpoints:
            raise NotFound("Resource not found")
        body = {"Item": endpoint_responses(self.project, users_endpoints)}
        user_endpoints_delete(self.project, user_id)
        return Response(body, status=status.HTTP_202_ACCEPTED)


class AttributesView(ProjectScopedMixin, APIView):
    """RemoveAttributes."""

    def put(self, request: Request, application_id: str, attribute_type: str) -> Response:
        if attribute_type not in AttributeKind.values:
            raise BadRequest(f"attribute-type must be one of {', '.join(AttributeKind.values)}.")
        blacklist = _object(request.data, "UpdateAttributesRequest").get("Blacklist")
        if not isinstance(blacklist, list) or not all(isinstance(p, str) and p for p in blacklist):
            raise BadRequest("Blacklist is required: a list of attribute names or glob patterns.")
        removed = attributes_remove(self.project, kind=attribute_type, patterns=blacklist)
        return Response({"ApplicationId": self.project.id, "AttributeType": attribute_type, "Attributes": removed})


def _parsed_event(event_id: str, body) -> EventWrite | EndpointInvalid:
    try:
        return parse_event(event_id, body)
    except EndpointInvalid as error:
        return error


class EventsView(ProjectScopedMixin, APIView):
    """PutEvents: per-endpoint and per-event results; the HTTP status stays 202."""

    def post(self, request: Request, application_id: str) -> Response:
        if len(request._request.body) > MAX_PUT_EVENTS_BYTES:
            raise PayloadTooLarge("A PutEvents request can be at most 4 MB.")
        batch_items = _object(request.data, "EventsRequest").get("BatchItem")
        if not isinstance(batch_items, dict) or not batch_items:
            raise BadRequest("BatchItem is required: an object of endpoint id to EventsBatch.")
        total = sum(len(b.get("Events") or {}) for b in batch_items.values() if isinstance(b, dict))
        if total > MAX_EVENTS_PER_REQUEST:
            raise BadRequest(f"The request has {total} events; at most {MAX_EVENTS_PER_REQUEST} per request.")
        batches = {}
        for endpoint_id, batch in batch_items.items():
            if not isinstance(batch, dict) or not isinstance(batch.get("Events"), dict):
                raise BadRequest(f"BatchItem {endpoint_id} needs an Endpoint and an Events object.")
            try:
                check_endpoint_id(endpoint_id)
            except EndpointInvalid as error:
                batches[endpoint_id] = (error, dict.fromkeys(batch["Events"], error))
                continue
            try:
                endpoint = parse_endpoint(endpoint_id, batch.get("Endpoint") or {})
            except EndpointInvalid as error:
                endpoint = error
            events = {event_id: _parsed_event(event_id, event) for event_id, event in batch["Events"].items()}
            batches[endpoint_id] = (endpoint, events)
        results = events_put(self.project, batches, request_id=request._request.pinpoint_request_id)
        return Response(
            {
                "Results": {
                    endpoint_id: {
                        "EndpointItemResponse": {"StatusCode": r.endpoint[0], "Message": r.endpoint[1]},
                        "EventsItemResponse": {
                            event_id: {"StatusCode": code, "Message": message}
                            for event_id, (code, message) in r.events.items()
                        },
                    }
                    for endpoint_id, r in results.items()
                }
            },
            status=status.HTTP_202_ACCEPTED,
        )


def _page(request: Request, queryset) -> tuple[list, str | None]:
    return paginate(
        queryset,
        page_size=request.query_params.get("page-size"),
        token=request.query_params.get("token"),
        order=("creation_date", "id"),
    )


def _valid(serializer_class, data) -> dict:
    payload = serializer_class(data=_object(data, serializer_class.__name__))
    payload.is_valid(raise_exception=True)
    return payload.validated_data


def _segment(project, segment_id: str) -> Segment:
    segment = Segment.objects.filter(project=project, pk=segment_id).first()
    if segment is None:
        raise NotFound("Resource not found")
    return segment


class ImportJobsView(ProjectScopedMixin, APIView):
    """CreateImportJob, GetImportJobs."""

    def post(self, request: Request, application_id: str) -> Response:
        data = _valid(ImportJobRequest, request.data)
        definition = ImportDefinition(
            format=data["Format"],
            s3_url=data["S3Url"],
            role_arn=data["RoleArn"],
            register_endpoints=data["RegisterEndpoints"],
            define_segment=data["DefineSegment"],
            segment_id=data.get("SegmentId", ""),
            segment_name=data.get("SegmentName", ""),
            external_id=data.get("ExternalId", ""),
        )
        try:
            job = import_job_create(self.project, definition, user=request.user)
        except ImportRequestInvalid as error:
            raise BadRequest(str(error)) from None
        except Segment.DoesNotExist as error:
            raise NotFound(str(error)) from None
        job.refresh_from_db()
        return Response(import_job_response(job), status=status.HTTP_201_CREATED)

    def get(self, request: Request, application_id: str) -> Response:
        items, next_token = _page(request, ImportJob.objects.for_project(self.project))
        return Response(page([import_job_response(job) for job in items], next_token))


class ImportJobView(ProjectScopedMixin, APIView):
    """GetImportJob."""

    def get(self, request: Request, application_id: str, job_id: str) -> Response:
        job = ImportJob.objects.for_project(self.project).filter(pk=job_id).first()
        if job is None:
            raise NotFound("Resource not found")
        return Response(import_job_response(job))


class SegmentImportJobsView(ProjectScopedMixin, APIView):
    """GetSegmentImportJobs."""

    def get(self, request: Request, application_id: str, segment_id: str) -> Response:
        segment = _segment(self.project, segment_id)
        items, next_token = _page(request, ImportJob.objects.for_project(self.project).filter(segment=segment))
        return Response(page([import_job_response(job) for job in items], next_token))


class ExportJobsView(ProjectScopedMixin, APIView):
    """CreateExportJob (202: the job runs on the worker), GetExportJobs."""

    def post(self, request: Request, application_id: str) -> Response:
        data = _valid(ExportJobRequest, request.data)
        definition = ExportDefinition(
            s3_url_prefix=data["S3UrlPrefix"],
            role_arn=data["RoleArn"],
            segment_id=data.get("SegmentId", ""),
            segment_version=data.get("SegmentVersion"),
        )
        try:
            job = export_job_create(self.project, definition, user=request.user)
        except ExportRequestInvalid as error:
            raise BadRequest(str(error)) from None
        except Segment.DoesNotExist as error:
            raise NotFound(str(error)) from None
        job.refresh_from_db()
        return Response(export_job_response(job), status=status.HTTP_202_ACCEPTED)

    def get(self, request: Request, application_id: str) -> Response:
        items, next_token = _page(request, ExportJob.objects.for_project(self.project))
        return Response(page([export_job_response(job) for job in items], next_token))


class ExportJobView(ProjectScopedMixin, APIView):
    """GetExportJob."""

    def get(self, request: Request, application_id: str, job_id: str) -> Response:
        job = ExportJob.objects.for_project(self.project).filter(pk=job_id).first()
        if job is None:
            raise NotFound("Resource not found")
        return Response(export_job_response(job))


class SegmentExportJobsView(ProjectScopedMixin, APIView):
    """GetSegmentExportJobs."""

    def get(self, request: Request, application_id: str, segment_id: str) -> Response:
        segment = _segment(self.project, segment_id)
        items, next_token = _page(request, ExportJob.objects.for_project(self.project).filter(segment=segment))
        return Response(page([export_job_response(job) for job in items], next_token))
