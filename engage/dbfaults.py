"""A database that does not answer is a temporary fault of the service, not a bug of the request.

While PostgreSQL restarts, fails over or refuses connections, Django raises OperationalError (or
InterfaceError for a connection that died under it). Those requests answer 503 with Retry-After —
in Pinpoint's error shape (`ServiceUnavailableException`, which the AWS SDKs retry) under /v1/, a
plain page elsewhere — and log one line, instead of a 500 page and a traceback per request. The
next request after the database is back reconnects by itself (CONN_HEALTH_CHECKS).

Workers ride the outage out instead (`ride_out_outage`): a retry-safe step of background work — a
batch of a campaign run, a flush of the outbox's outcomes, a claim, an import chunk — whose
connection breaks waits for the database to answer again (up to OUTAGE_WAIT, well inside the
leases it holds) and runs again, so a restart of a few seconds neither pauses the work until its
leases lapse nor sends again the messages whose outcomes were waiting to be recorded.

Where the error can come from, and who turns it into the 503:
- a Pinpoint API view (DRF): engage.api.errors.as_pinpoint_error;
- any other view: `DatabaseUnavailableMiddleware.process_exception`;
- a middleware (the session, the current project) or anything outside a view: Django's handler500,
  `server_error` here (engage/urls.py), which Django calls with the exception being handled.
"""

import contextlib
import logging
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.views.defaults import server_error as django_server_error

from engage.api.errors import RETRY_AFTER_SECONDS, ServiceUnavailable, error_response
from engage.api.middleware import is_api_request
from engage.db import DATABASE_ERRORS

logger = logging.getLogger("engage.dbfaults")

OUTAGE_WAIT = 120.0  # seconds a worker waits for the database: well inside every lease (5 minutes)

T = TypeVar("T")


def database_answers(alias: str = "default") -> bool:
    """Whether the database answers a query now, on a fresh connection if the last one broke."""
    connection = connections[alias]
    try:
        connection.close_if_unusable_or_obsolete()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DATABASE_ERRORS:
        with contextlib.suppress(DATABASE_ERRORS):
            connection.close()
        return False


def wait_for_database(timeout: float = OUTAGE_WAIT) -> bool:
    """Poll the database (0.25 s, doubling to 5 s) until it answers or `timeout` passes."""
    deadline = time.monotonic() + timeout
    delay = 0.25
    while not database_answers():
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    return True


def ride_out_outage(step: Callable[[], T], *, timeout: float = OUTAGE_WAIT) -> T:
    """`step()`; when the database connection fails under it, wait up to `timeout` for the database
    and run it once more. Only for steps that are safe to run again: their transaction rolled back
    with the connection, and the claim or lease they work under outlasts the wait. Inside an outer
    transaction (which the outage rolled back) the error is raised at once."""
    try:
        return step()
    except DATABASE_ERRORS as error:
        if connections["default"].in_atomic_block:
            raise
        logger.warning("database unavailable in %s: %s; waiting up to %.0f s", _name(step), error, timeout)
        began = time.monotonic()
        if not wait_for_database(timeout):
            raise
        logger.warning("database back after %.1f s; running %s again", time.monotonic() - began, _name(step))
        return step()


def _name(step: Callable) -> str:
    return getattr(step, "__qualname__", repr(step))


# No template: rendering one runs context processors, and those read the database.
PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Engage is unavailable</title></head>
<body><h1>Engage is briefly unavailable</h1>
<p>The database is not answering. Please try again in a few seconds.</p></body></html>
"""


def unavailable_response(request: HttpRequest, error: BaseException) -> HttpResponse:
    """503 with Retry-After: Pinpoint's error shape for /v1/, the plain page otherwise. Logged here,
    once, as a warning without traceback (Django's request log skips it)."""
    logger.warning("database unavailable serving %s %s: %s", request.method, request.path, error)
    if is_api_request(request):
        response = error_response(ServiceUnavailable(), request)
    else:
        response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # django.utils.log.log_response: no second line, no traceback
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database error raised by a view into the 503 answer. Listed after
    PinpointRequestMiddleware, so that its process_exception runs first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the 503 answer when the exception being handled is a database error (raised by a
    middleware, outside any view), Django's own 500 page otherwise."""
    error = sys.exc_info()[1]
    if isinstance(error, DATABASE_ERRORS):
        return unavailable_response(request, error)
    return django_server_error(request)
