"""Pinpoint operations on apps (projects), their settings and tags."""

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from engage.api.errors import BadRequest
from engage.api.paging import page, paginate
from projects.api.mixins import ProjectScopedMixin
from projects.api.serializers import (
    CreateApplicationRequest,
    TagsModel,
    WriteApplicationSettingsRequest,
    application_response,
    application_settings_resource,
)
from projects.models import Project
from projects.services import (
    application_settings_for,
    application_settings_update,
    project_create,
    project_delete,
    tags_apply,
)
from projects.tagging import resolve


class AppsView(APIView):
    """GetApps, CreateApp."""

    def get(self, request: Request) -> Response:
        items, next_token = paginate(
            Project.objects.visible_to(request.user),
            page_size=request.query_params.get("page-size"),
            token=request.query_params.get("token"),
            order=("creation_date", "id"),
        )
        return Response(page([application_response(p) for p in items], next_token))

    def post(self, request: Request) -> Response:
        payload = CreateApplicationRequest(data=request.data)
        payload.is_valid(raise_exception=True)
        project = project_create(
            name=payload.validated_data["Name"], owner=request.user, tags=payload.validated_data.get("tags")
        )
        return Response(application_response(project), status=status.HTTP_201_CREATED)


class AppView(ProjectScopedMixin, APIView):
    """GetApp, DeleteApp (owners only; deletes everything of the project)."""

    owner_methods = frozenset({"DELETE"})

    def get(self, request: Request, application_id: str) -> Response:
        return Response(application_response(self.project))

    def delete(self, request: Request, application_id: str) -> Response:
        body = application_response(self.project)
        project_delete(self.project)
        return Response(body)


class AppSettingsView(ProjectScopedMixin, APIView):
    """GetApplicationSettings, UpdateApplicationSettings."""

    def get(self, request: Request, application_id: str) -> Response:
        return Response(application_settings_resource(application_settings_for(self.project)))

    def put(self, request: Request, application_id: str) -> Response:
        payload = WriteApplicationSettingsRequest(data=request.data)
        payload.is_valid(raise_exception=True)
        updated = application_settings_update(self.project, payload.to_change())
        return Response(application_settings_resource(updated))


class TagsView(APIView):
    """ListTagsForResource, TagResource, UntagResource; the ARN arrives percent-encoded."""

    def get(self, request: Request, resource_arn: str) -> Response:
        return Response({"tags": resolve(resource_arn, request.user, write=False).row.tags})

    def post(self, request: Request, resource_arn: str) -> Response:
        payload = TagsModel(data=request.data)
        payload.is_valid(raise_exception=True)
        tags_apply(resolve(resource_arn, request.user, write=True).row, add=payload.validated_data["tags"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    def delete(self, request: Request, resource_arn: str) -> Response:
        keys = request.query_params.getlist("tagKeys")
        if not keys:
            raise BadRequest("tagKeys is required: name each tag key to remove.")
        tags_apply(resolve(resource_arn, request.user, write=True).row, remove=keys)
        return Response(status=status.HTTP_204_NO_CONTENT)
