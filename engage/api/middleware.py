"""Request ids and the error shape for everything under /v1/, whatever layer answered."""

import logging
import uuid
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from engage.api.errors import (
    BadRequest,
    Forbidden,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PinpointError,
    TooManyRequests,
    error_response,
)

logger = logging.getLogger("engage.api")

API_PREFIX = "/v1/"
_BY_STATUS: dict[int, type[PinpointError]] = {
    400: BadRequest,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    429: TooManyRequests,
}


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _nul_in(request: HttpRequest) -> str | None:
    """Where a NUL (%00) is in the path or query: no Pinpoint id or parameter holds one, and
    PostgreSQL refuses it in any text it is asked to compare (a 500 if it got that far)."""
    if "\x00" in request.path_info:
        return "path"
    if any("\x00" in name or any("\x00" in value for value in values) for name, values in request.GET.lists()):
        return "query string"
    return None


class PinpointRequestMiddleware:
    """Gives each /v1/ request a RequestID and turns any non-Pinpoint error into Pinpoint's shape.

    Views raise engage.api.errors; this catches what happens outside them: oversized bodies,
    host/CSRF failures, crashes in other middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_request(request):
            return self.get_response(request)
        request.pinpoint_request_id = str(uuid.uuid4())
        where = _nul_in(request)
        if where:
            response = error_response(BadRequest(f"The request {where} contains a NUL character."), request)
        else:
            response = self.get_response(request)
        if response.status_code >= 400 and "x-amzn-ErrorType" not in response:
            error_class = _BY_STATUS.get(response.status_code, InternalServerError)
            response = error_response(error_class(), request)
        response["x-amzn-RequestId"] = request.pinpoint_request_id
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return error_response(PayloadTooLarge("The request body is larger than 7 MB."), request)
        if isinstance(exception, PinpointError):
            return error_response(exception, request)
        logger.error("unhandled error serving %s", request.path, exc_info=exception)
        return error_response(InternalServerError(), request)
