"""An OpenAPI 3.0 description of the /v1/ API, generated from botocore's Pinpoint model.

Engage's API is wire-compatible with Amazon Pinpoint, so the authority for every path, parameter,
body and error is botocore's restJson1 model (the one boto3 clients are built from), not Engage's
views. Each operation of the model becomes one path + method: `location: uri/querystring/header`
members become parameters, the payload member (or the members without a location) the JSON body,
the output shape the success response, and every error shape its status with Pinpoint's
`{"Message", "RequestID"}` body. `x-engage-served` says whether this server serves the operation
(engage.api.coverage); operations it has not built answer only 405 MethodNotAllowedException.

Structures are open (`additionalProperties` unset), as botocore reads them: a client ignores
members it does not know. Served at GET /v1/openapi.json; `manage.py pinpoint_openapi` prints it.
"""

import gzip
import html
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import botocore
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

MODEL = Path(botocore.__file__).parent / "data" / "pinpoint" / "2016-12-01" / "service-2.json.gz"
SIGNING_NAME = "mobiletargeting"
ERROR_SCHEMA = "PinpointError"
_REF = "#/components/schemas/"
# An operation Engage has not built still authenticates (403), counts against the rate limit (429)
# and refuses oversized bodies (413) before it answers 405.
_UNBUILT_ERRORS = (
    "ForbiddenException",
    "MethodNotAllowedException",
    "PayloadTooLargeException",
    "TooManyRequestsException",
)


@cache
def load_model() -> dict[str, Any]:
    return json.loads(gzip.decompress(MODEL.read_bytes()))


def _doc(text: str | None) -> str:
    """The model's HTML documentation as plain text (one paragraph per line)."""
    if not text:
        return ""
    text = re.sub(r"</p>\s*<p>", "\n\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"[ \t]+", " ", text).strip()


class _Builder:
    def __init__(self, model: dict[str, Any]) -> None:
        self.shapes: dict[str, dict[str, Any]] = model["shapes"]
        self.components: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        # TagResource and UntagResource declare no errors, yet answer the service's errors like
        # every other operation (authentication, throttling, validation): the most common list.
        lists = Counter(tuple(e["shape"] for e in op.get("errors", [])) for op in model["operations"].values())
        common = lists.most_common(1)[0][0]
        self.service_errors = [{"shape": name} for name in common]

    def schema(self, name: str) -> dict[str, Any]:
        """The JSON schema of a shape: primitives inline, everything named in components."""
        shape = self.shapes[name]
        kind = shape["type"]
        if kind in ("structure", "list", "map") or "enum" in shape:
            if name not in self.components:
                self.components[name] = {}  # placeholder first: shapes may refer to themselves
                self.components[name] = self._named(shape)
            return {"$ref": f"{_REF}{name}"}
        return self._primitive(shape)

    def _primitive(self, shape: dict[str, Any]) -> dict[str, Any]:
        kind = shape["type"]
        if kind == "string":
            schema: dict[str, Any] = {"type": "string"}
        elif kind == "boolean":
            schema = {"type": "boolean"}
        elif kind == "integer":
            schema = {"type": "integer", "format": "int32"}
        elif kind == "long":
            schema = {"type": "integer", "format": "int64"}
        elif kind in ("double", "float"):
            schema = {"type": "number", "format": "double"}
        elif kind == "blob":
            schema = {"type": "string", "format": "byte"}  # base64 in a JSON body
        elif kind == "timestamp":
            if shape.get("timestampFormat") == "iso8601":
                schema = {"type": "string", "format": "date-time"}
            else:  # restJson1's default in a body: seconds since the epoch
                schema = {"type": "number"}
        else:
            raise ValueError(f"unknown shape type {kind!r}")
        self._bounds(shape, schema)
        return schema

    def _bounds(self, shape: dict[str, Any], schema: dict[str, Any]) -> None:
        kind = schema.get("type")
        for key, by_type in (
            ("min", {"string": "minLength", "array": "minItems", "object": "minProperties"}),
            ("max", {"string": "maxLength", "array": "maxItems", "object": "maxProperties"}),
        ):
            if key not in shape:
                continue
            if kind in ("integer", "number"):
                schema["minimum" if key == "min" else "maximum"] = shape[key]
            elif kind in by_type and schema.get("format") != "date-time":
                schema[by_type[kind]] = shape[key]
        if "pattern" in shape:
            schema["pattern"] = shape["pattern"]

    def _named(self, shape: dict[str, Any]) -> dict[str, Any]:
        kind = shape["type"]
        if kind == "structure":
            schema = self.structure(shape, shape["members"])
        elif kind == "list":
            schema = {"type": "array", "items": self.schema(shape["member"]["shape"])}
        elif kind == "map":
            schema = {"type": "object", "additionalProperties": self.schema(shape["value"]["shape"])}
        else:  # a string enum
            schema = {"type": "string", "enum": list(shape["enum"])}
        self._bounds(shape, schema)
        if shape.get("documentation"):
            schema["description"] = _doc(shape["documentation"])
        return schema

    def structure(self, shape: dict[str, Any], members: dict[str, dict[str, Any]]) -> dict[str, Any]:
        properties = {member.get("locationName", name): self._member(member) for name, member in members.items()}
        required = [members[name].get("locationName", name) for name in shape.get("required", []) if name in members]
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def _member(self, member: dict[str, Any]) -> dict[str, Any]:
        schema = self.schema(member["shape"])
        text = _doc(member.get("documentation"))
        if text and "$ref" not in schema:
            return {**schema, "description": text}
        return schema

    def parameter(self, name: str, member: dict[str, Any], required: bool) -> dict[str, Any]:
        location = {"uri": "path", "querystring": "query", "header": "header"}[member["location"]]
        shape = self.shapes[member["shape"]]
        if shape["type"] == "list":  # ?tagKeys=a&tagKeys=b, as botocore sends a list
            schema: dict[str, Any] = {"type": "array", "items": self.schema(shape["member"]["shape"])}
        else:
            schema = self.schema(member["shape"])
        if location == "path" and schema.get("type") == "string":
            schema = {**schema, "minLength": 1}  # a URI label is never empty on the wire
        parameter: dict[str, Any] = {
            "name": member.get("locationName", name),
            "in": location,
            "required": location == "path" or required,
            "schema": schema,
        }
        if shape["type"] == "list":
            parameter.update(style="form", explode=True)
        text = _doc(member.get("documentation"))
        if text:
            parameter["description"] = text
        return parameter

    def operation(self, name: str, op: dict[str, Any], served: bool) -> dict[str, Any]:
        http = op["http"]
        result: dict[str, Any] = {
            "operationId": name,
            "summary": _summary(op.get("documentation")),
            "description": _doc(op.get("documentation")),
            "tags": [_tag(http["requestUri"])],
            "x-engage-served": served,
            "security": [{"sigv4": []}],
        }
        if not served:
            result["description"] = (
                f"Not built in Engage yet: answers 405 MethodNotAllowedException naming {name}.\n\n"
                + result["description"]
            )
        parameters, body = self._input(op)
        if parameters:
            result["parameters"] = parameters
        if body:
            result["requestBody"] = body
        responses: dict[str, Any] = {}
        if served:
            status = str(http.get("responseCode", 200))
            responses[status] = self._output(op)
        for error in op.get("errors") or self.service_errors:
            error_name = error["shape"]
            if not served and error_name not in _UNBUILT_ERRORS:
                continue
            status = str(self.shapes[error_name]["error"]["httpStatusCode"])
            responses[status] = {"$ref": f"#/components/responses/{error_name}"}
            self.errors.setdefault(
                error_name,
                {
                    "description": f"{error_name}: {_doc(error.get('documentation')) or error_name}",
                    "headers": {
                        "x-amzn-ErrorType": {"schema": {"type": "string", "enum": [error_name]}},
                        "x-amzn-RequestId": {"schema": {"type": "string"}},
                    },
                    "content": {"application/json": {"schema": {"$ref": f"{_REF}{ERROR_SCHEMA}"}}},
                },
            )
        result["responses"] = dict(sorted(responses.items()))
        return result

    def _input(self, op: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if "input" not in op:
            return [], None
        shape = self.shapes[op["input"]["shape"]]
        members = shape["members"]
        required = set(shape.get("required", []))
        parameters = [
            self.parameter(name, member, name in required) for name, member in members.items() if "location" in member
        ]
        payload = shape.get("payload")
        if payload:
            body_schema = self.schema(members[payload]["shape"])
            body_required = payload in required
        else:
            unlocated = {name: member for name, member in members.items() if "location" not in member}
            if not unlocated:
                return parameters, None
            body_schema = self.structure(shape, unlocated)
            body_required = bool(body_schema.get("required"))
        body = {"required": body_required, "content": {"application/json": {"schema": body_schema}}}
        return parameters, body

    def _output(self, op: dict[str, Any]) -> dict[str, Any]:
        text = _doc(op.get("output", {}).get("documentation")) or "The request succeeded."
        if "output" not in op:
            return {"description": text}
        shape = self.shapes[op["output"]["shape"]]
        members = shape["members"]
        payload = shape.get("payload")
        if payload:
            schema = self.schema(members[payload]["shape"])
        else:
            unlocated = {name: member for name, member in members.items() if "location" not in member}
            if not unlocated:
                return {"description": text}
            schema = self.structure(shape, unlocated)
        return {"description": text, "content": {"application/json": {"schema": schema}}}


def _summary(text: str | None) -> str:
    """The documentation's first sentence."""
    first = _doc(text).split("\n")[0]
    return first.split(". ")[0].rstrip(".") + "." if first else ""


def _tag(uri: str) -> str:
    """Group operations by their resource: /v1/apps/{application-id}/segments/... → segments."""
    parts = [p for p in uri.split("/")[2:] if p and not p.startswith("{")]
    if parts[:1] == ["apps"] and len(parts) > 1:
        return parts[1]
    return parts[0] if parts else "v1"


def build(served: set[str], *, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document of every operation in the model; `served` names those Engage serves."""
    model = load_model()
    builder = _Builder(model)
    paths: dict[str, dict[str, Any]] = {}
    for name in sorted(model["operations"]):
        op = model["operations"][name]
        uri = op["http"]["requestUri"].split("?")[0]
        paths.setdefault(uri, {})[op["http"]["method"].lower()] = builder.operation(name, op, name in served)
    error_fields = model["shapes"]["BadRequestException"]["members"]
    builder.components[ERROR_SCHEMA] = {
        "type": "object",
        "description": "Every error Engage answers under /v1/; the exception name is in x-amzn-ErrorType.",
        "properties": {name: builder.schema(member["shape"]) for name, member in error_fields.items()},
        "required": ["Message", "RequestID"],
    }
    metadata = model["metadata"]
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Engage — Amazon Pinpoint-compatible API",
            "version": metadata["apiVersion"],
            "description": (
                "Generated from botocore's Pinpoint model (the wire format boto3 and the AWS SDKs speak). "
                "Every request is signed with AWS Signature Version 4, service "
                f"`{SIGNING_NAME}`, with an Engage access key. `x-engage-served: false` marks the "
                "operations this server has not built: they answer 405 MethodNotAllowedException."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(builder.components.items())),
            "responses": dict(sorted(builder.errors.items())),
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": f"AWS Signature Version 4, service `{SIGNING_NAME}`, any region.",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def served_operations() -> set[str]:
    from engage.api.coverage import coverage

    return {row.operation.name for row in coverage() if row.implemented}


@cache
def document() -> dict[str, Any]:
    """This server's document (computed once per process: the model and the URLs do not change)."""
    return build(served_operations())


@cache
def document_json() -> bytes:
    return json.dumps(document(), ensure_ascii=False).encode()


@csrf_exempt  # a write answers 405 as elsewhere under /v1/, not the CSRF page's 403
@require_safe
def openapi_view(request: HttpRequest) -> HttpResponse:
    """GET /v1/openapi.json, unsigned: the document says nothing the public botocore model does not,
    besides which operations this server serves."""
    return HttpResponse(document_json(), content_type="application/json")
