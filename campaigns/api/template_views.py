"""Pinpoint message template operations: Create/Update/Get/Delete{Email,Sms,Voice,Push,InApp}Template,
ListTemplates, ListTemplateVersions, UpdateTemplateActiveVersion.

Templates are account-level: these views name no project; `templates_access_check` decides.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import templates as service
from campaigns.models import MessageTemplate, TemplateType, TemplateVersion
from engage.api.errors import BadRequest, NotFound, request_id_of
from engage.api.formats import iso8601
from engage.api.paging import page, page_size_from, paginate


@contextmanager
def pinpoint_errors() -> Iterator[None]:
    """The template services' errors in Pinpoint's shape (400 / 404)."""
    try:
        yield
    except service.TemplateInvalid as error:
        raise BadRequest(str(error)) from None
    except service.TemplateNotFound as error:
        raise NotFound(str(error)) from None
    except ValidationError as error:
        raise BadRequest(" ".join(error.messages)) from None


def template_response(row: TemplateVersion) -> dict:
    """{Email,SMS,Voice,PushNotification,InApp}TemplateResponse of one version."""
    template = row.template
    body = {
        "Arn": template.arn,
        "CreationDate": iso8601(template.creation_date),
        "LastModifiedDate": iso8601(row.last_modified_date),
        "TemplateName": template.name,
        "TemplateType": template.template_type,
        "Version": str(row.version),
        "tags": template.tags,
        **row.content,
    }
    if row.default_substitutions:
        body["DefaultSubstitutions"] = row.default_substitutions
    if row.description:
        body["TemplateDescription"] = row.description
    return body


def template_list_item(template: MessageTemplate) -> dict:
    """TemplateResponse as ListTemplates answers it (the active version's number)."""
    return {
        "CreationDate": iso8601(template.creation_date),
        "LastModifiedDate": iso8601(template.last_modified_date),
        "TemplateName": template.name,
        "TemplateType": template.template_type,
        "Version": str(template.active_version),
    }


def template_version_response(row: TemplateVersion) -> dict:
    body = {
        "CreationDate": iso8601(row.creation_date),
        "LastModifiedDate": iso8601(row.last_modified_date),
        "TemplateName": row.template.name,
        "TemplateType": row.template.template_type,
        "Version": str(row.version),
    }
    if row.default_substitutions:
        body["DefaultSubstitutions"] = row.default_substitutions
    if row.description:
        body["TemplateDescription"] = row.description
    return body


def _message(request: Request, message: str) -> dict:
    return {"Message": message, "RequestID": request_id_of(request._request)}


def _flag(raw: str | None) -> bool:
    if raw in (None, "", "false", "False"):
        return False
    if raw in ("true", "True"):
        return True
    raise BadRequest(f"create-new-version must be true or false, not '{raw[:40]}'.")


def _template_type(raw: str) -> str:
    value = raw.upper()
    if value not in TemplateType.values:
        raise BadRequest(f"template-type must be one of {', '.join(TemplateType.values)}.")
    return value


class TemplatesAccessMixin:
    """Reads need a membership in some project; writes the owner or editor role in one."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        service.templates_access_check(request.user, write=request.method not in SAFE_METHODS)


class TemplateView(TemplatesAccessMixin, APIView):
    """Create/Get/Update/Delete of one type; `template_type` is set per route."""

    template_type: str = ""

    def post(self, request: Request, template_name: str) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        with pinpoint_errors():
            template = service.template_create(
                self.template_type, template_name, body, tags=body.get("tags"), by=request.user
            )
        return Response({"Arn": template.arn, **_message(request, "Created")}, status=status.HTTP_201_CREATED)

    def get(self, request: Request, template_name: str) -> Response:
        with pinpoint_errors():
            row = service.template_get(self.template_type, template_name, request.query_params.get("version"))
        return Response(template_response(row))

    def put(self, request: Request, template_name: str) -> Response:
        create_new_version = _flag(request.query_params.get("create-new-version"))
        with pinpoint_errors():
            service.template_update(
                self.template_type,
                template_name,
                request.data if isinstance(request.data, dict) else {},
                create_new_version=create_new_version,
                version=request.query_params.get("version"),
            )
        return Response(_message(request, "Accepted"), status=status.HTTP_202_ACCEPTED)

    def delete(self, request: Request, template_name: str) -> Response:
        with pinpoint_errors():
            service.template_delete(self.template_type, template_name, request.query_params.get("version"))
        return Response(_message(request, "Accepted"), status=status.HTTP_202_ACCEPTED)


class TemplatesView(TemplatesAccessMixin, APIView):
    """ListTemplates."""

    def get(self, request: Request) -> Response:
        raw_type = request.query_params.get("template-type")
        with pinpoint_errors():
            templates = service.templates_list(
                prefix=request.query_params.get("prefix") or "",
                template_type=_template_type(raw_type) if raw_type else None,
            )
        items, token = paginate(
            templates,
            page_size=request.query_params.get("page-size"),
            token=request.query_params.get("next-token"),
            order=("name", "template_type"),
        )
        return Response(page([template_list_item(t) for t in items], token))


class TemplateVersionsView(TemplatesAccessMixin, APIView):
    """ListTemplateVersions, newest first."""

    def get(self, request: Request, template_name: str, template_type: str) -> Response:
        size = page_size_from(request.query_params.get("page-size"))
        after = request.query_params.get("next-token")
        with pinpoint_errors():
            versions = service.template_versions(_template_type(template_type), template_name)
        if after:
            if not after.isascii() or not after.isdigit():
                raise BadRequest("The next-token is not valid. Use the NextToken of a previous response.")
            versions = versions.filter(version__lt=int(after))
        rows = list(versions[: size + 1])
        token = str(rows[size - 1].version) if len(rows) > size else None
        return Response(
            {
                **page([template_version_response(r) for r in rows[:size]], token),
                **_message(request, "Versions"),
            }
        )


class TemplateActiveVersionView(TemplatesAccessMixin, APIView):
    """UpdateTemplateActiveVersion."""

    def put(self, request: Request, template_name: str, template_type: str) -> Response:
        version = request.data.get("Version") if isinstance(request.data, dict) else None
        with pinpoint_errors():
            service.template_activate(_template_type(template_type), template_name, version)
        return Response(_message(request, "Accepted"))
