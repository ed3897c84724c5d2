"""Pinpoint's event stream operations: PutEventStream, GetEventStream, DeleteEventStream."""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audience.models import EventStream
from audience.streams.services import (
    StreamInvalid,
    event_stream_delete,
    event_stream_put,
    event_stream_response,
    updated_by,
)
from engage.api.errors import BadRequest, NotFound
from projects.api.mixins import ProjectScopedMixin


class EventStreamView(ProjectScopedMixin, APIView):
    """GET, POST (create or replace) and DELETE /v1/apps/{application-id}/eventstream."""

    def get(self, request: Request, application_id: str) -> Response:
        stream = EventStream.objects.filter(project=self.project).first()
        if stream is None:
            raise NotFound("Resource not found")
        return Response(event_stream_response(stream))

    def post(self, request: Request, application_id: str) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object (WriteEventStream).")
        values = {}
        for name in ("DestinationStreamArn", "RoleArn"):
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                raise BadRequest(f"{name} is required: a string.")
            if len(value) > 2048:
                raise BadRequest(f"{name} can be at most 2048 characters.")
            values[name] = value
        try:
            stream = event_stream_put(
                self.project,
                destination=values["DestinationStreamArn"],
                role_arn=values["RoleArn"],
                updated_by=updated_by(request.user.get_username()),
            )
        except StreamInvalid as error:
            raise BadRequest(str(error)) from None
        return Response(event_stream_response(stream))

    def delete(self, request: Request, application_id: str) -> Response:
        stream = event_stream_delete(self.project)
        if stream is None:
            raise NotFound("Resource not found")
        return Response(event_stream_response(stream))
