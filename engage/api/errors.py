"""Pinpoint's error shape, in one place.

Every error under /v1/ answers `{"Message": ..., "RequestID": ...}` with the status the botocore
model declares and the `x-amzn-ErrorType` header botocore reads the exception name from.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from engage.api import operations
from engage.db import DATABASE_ERRORS

logger = logging.getLogger("engage.api")


class PinpointError(Exception):
    status = 500
    error_type = "InternalServerErrorException"
    default_message = "Internal server error."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class BadRequest(PinpointError):
    status = 400
    error_type = "BadRequestException"
    default_message = "Bad request."


class Forbidden(PinpointError):
    status = 403
    error_type = "ForbiddenException"
    default_message = "You are not allowed to perform this operation."


class NotFound(PinpointError):
    status = 404
    error_type = "NotFoundException"
    default_message = "Resource not found."


class MethodNotAllowed(PinpointError):
    status = 405
    error_type = "MethodNotAllowedException"
    default_message = "The method is not allowed for the requested resource."


class Conflict(PinpointError):
    status = 409
    error_type = "ConflictException"
    default_message = "The request conflicts with the current state of the resource."


class PayloadTooLarge(PinpointError):
    status = 413
    error_type = "PayloadTooLargeException"
    default_message = "The request is too large."


class TooManyRequests(PinpointError):
    status = 429
    error_type = "TooManyRequestsException"
    default_message = "Too many requests."


class InternalServerError(PinpointError):
    pass


# Seconds a client is asked to wait (Retry-After) when the database does not answer.
RETRY_AFTER_SECONDS = 5


class ServiceUnavailable(PinpointError):
    """The database does not answer (restarting, failing over): temporary, the SDKs retry a 503."""

    status = 503
    error_type = "ServiceUnavailableException"
    default_message = "The service is temporarily unavailable. Try again shortly."


def request_id_of(request: HttpRequest | None) -> str:
    return getattr(request, "pinpoint_request_id", "") if request is not None else ""


def error_payload(error: PinpointError, request_id: str) -> tuple[dict, dict]:
    body = {"Message": error.message, "RequestID": request_id}
    headers = {"x-amzn-ErrorType": error.error_type, "x-amzn-RequestId": request_id}
    if isinstance(error, ServiceUnavailable):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return body, headers


def error_response(error: PinpointError, request: HttpRequest | None) -> JsonResponse:
    """A plain Django response in Pinpoint's error shape (for middleware and plain views)."""
    body, headers = error_payload(error, request_id_of(request))
    return JsonResponse(body, status=error.status, headers=headers)


def _messages(detail) -> list[str]:
    if isinstance(detail, dict):
        return [
            f"{key}: {msg}" if key != "non_field_errors" else msg
            for key, value in detail.items()
            for msg in _messages(value)
        ]
    if isinstance(detail, list):
        return [msg for item in detail for msg in _messages(item)]
    return [str(detail)]


def as_pinpoint_error(exc: Exception) -> PinpointError:
    """Translate any exception raised while serving /v1/ into a Pinpoint error."""
    if isinstance(exc, PinpointError):
        return exc
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge("The request body is larger than 7 MB.")
    if isinstance(exc, DjangoValidationError):
        return BadRequest(" ".join(exc.messages))
    if isinstance(exc, drf.ValidationError):
        return BadRequest(" ".join(_messages(exc.detail)))
    if isinstance(exc, drf.ParseError | drf.UnsupportedMediaType):
        return BadRequest(str(exc.detail))
    if isinstance(exc, drf.NotAuthenticated):
        return Forbidden("Missing Authentication Token")
    if isinstance(exc, drf.AuthenticationFailed | drf.PermissionDenied | DjangoPermissionDenied):
        return Forbidden(str(getattr(exc, "detail", "")) or None)
    if isinstance(exc, Http404 | drf.NotFound):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf.Throttled):
        return TooManyRequests()
    if isinstance(exc, drf.APIException) and exc.status_code == 413:
        return PayloadTooLarge()
    if isinstance(exc, DATABASE_ERRORS):
        return ServiceUnavailable()
    return InternalServerError()


def pinpoint_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: every error a view raises leaves in Pinpoint's shape."""
    error = as_pinpoint_error(exc)
    request = context.get("request")
    if isinstance(exc, drf.MethodNotAllowed) and request is not None:
        error = MethodNotAllowed(
            operations.method_not_allowed_message(request.method, request.path_info) or error.message
        )
    if isinstance(error, InternalServerError) and not isinstance(exc, PinpointError):
        logger.exception("unhandled error serving %s", getattr(request, "path", "?"), exc_info=exc)
    elif isinstance(error, ServiceUnavailable):
        logger.warning("database unavailable serving %s: %s", getattr(request, "path", "?"), exc)
    body, headers = error_payload(error, request_id_of(getattr(request, "_request", request)))
    response = Response(body, status=error.status, headers=headers)
    if isinstance(error, ServiceUnavailable):
        response._has_been_logged = True  # logged above: no second line from django.request
    return response
