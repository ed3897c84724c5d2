"""Log records with the request they belong to: a request id per request, JSON lines in production.

Every request gets an id: the Pinpoint RequestID for /v1/ calls (the one the client sees in
x-amzn-RequestId), otherwise the proxy's X-Request-ID when it looks like one, otherwise a new
UUID; pages return it in X-Request-ID. A handler filter copies it onto each record, so a line
logged anywhere while serving the request carries it.
"""

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

_request_id: ContextVar[str] = ContextVar("engage_request_id", default="")

# A proxy's id (nginx's $request_id: 32 hex) is reused; anything else is replaced.
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Polled every few seconds by load balancers and Prometheus: their request lines are DEBUG.
_QUIET_PATHS = frozenset({"/healthz", "/metrics"})
# LogRecord's own attributes; anything else on a record came from `extra=` and is logged as a field.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

logger = logging.getLogger("engage.request")


def current_request_id() -> str:
    """The id of the request being served in this thread ("" outside a request)."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (for the text format's %(request_id)s and the JSON line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            # django.request logs 5xx responses after the middleware, with the request attached.
            request = getattr(record, "request", None)
            record.request_id = _request_id.get() or getattr(request, "request_id", "") or "-"
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id and request_id != "-":
            line["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line and key not in {"request_id", "request"}:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class RequestIdMiddleware:
    """Sets the request id for the request's log records and logs one line per request.

    Sits after engage.api's PinpointRequestMiddleware, whose RequestID it reuses for /v1/ calls.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = getattr(request, "pinpoint_request_id", None)
        if not request_id:
            incoming = request.headers.get("X-Request-ID", "")
            request_id = incoming if _INCOMING_ID.match(incoming) else str(uuid.uuid4())
        request.request_id = request_id
        token = _request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            if not hasattr(request, "pinpoint_request_id"):
                response["X-Request-ID"] = request_id
            logger.log(
                logging.DEBUG if request.path_info in _QUIET_PATHS else logging.INFO,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            _request_id.reset(token)
