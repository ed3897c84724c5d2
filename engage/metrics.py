"""Prometheus metrics at /metrics (prometheus_client).

Counted in the process: requests by view, method and status, their latency, segment estimate
time. Read from the database at scrape time: the django-q2 queue depth, the outbox backlog
(QUEUED and SENDING deliveries by channel: one GROUP BY that the outbox's partial status indexes
answer, however many messages were ever sent) and today's delivery outcomes by channel (from the
analytics rollup, so every worker host's sends are in it, whichever web process is scraped).

With several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR (an empty directory, emptied at each
start) so a scrape sums every worker's counters instead of reading the one that answered.

Access: from loopback without a proxy in between, or with `Authorization: Bearer
$ENGAGE_METRICS_TOKEN` from anywhere (docs/production.md).
"""

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from engage import health

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "engage_http_requests", "HTTP requests answered, by view, method and status.", ["view", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "engage_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SEGMENT_ESTIMATE_SECONDS = Histogram(
    "engage_segment_estimate_duration_seconds",
    "Time to estimate a segment's size (audience.segments.estimate).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30),
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Headers a reverse proxy adds: a request carrying one came through it, whatever REMOTE_ADDR says.
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


class MetricsMiddleware:
    """Counts and times every request under the view that answered it (the URL pattern's name)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The route's name (or its view's dotted path), never the path: ids would make a series each.
        view = match.view_name if match else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(view).observe(time.perf_counter() - started)
        return response


# Metrics apps read from their own tables at scrape time, registered in their AppConfig.ready()
# (engage imports no app): campaigns registers the outbox backlog and today's delivery outcomes.
SCRAPE_GAUGES: list[Callable[[], Metric]] = []


class DatabaseCollector(Collector):
    """Metrics read at scrape time: the task queue's depth, the outbox backlog, today's deliveries."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("engage_broker_up", "1 if the django-q2 broker answered this scrape.")
        depth = GaugeMetricFamily("engage_queue_depth", "Tasks waiting in the django-q2 queue.")
        try:
            depth.add_metric([], health.queue_depth())
            up.add_metric([], 1)
        except Exception:
            logger.warning("metrics: the django-q2 broker did not answer", exc_info=True)
            up.add_metric([], 0)
        yield up
        if depth.samples:
            yield depth

        for gauge in SCRAPE_GAUGES:
            try:
                yield gauge()
            except Exception:
                # A scrape still reports the process's own metrics while the database is away.
                logger.warning("metrics: %s could not be read", gauge.__name__, exc_info=True)


def _from_loopback(request: HttpRequest) -> bool:
    if any(header in request.META for header in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _has_token(request: HttpRequest) -> bool:
    token = settings.ENGAGE_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition; 403 unless from loopback or with the bearer token."""
    if not (_has_token(request) or _from_loopback(request)):
        response = HttpResponse("Forbidden: /metrics answers loopback or a bearer token.\n", status=403)
        response["WWW-Authenticate"] = "Bearer"
        return response
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process = CollectorRegistry()
        MultiProcessCollector(process)
    else:
        process = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(DatabaseCollector())
    return HttpResponse(generate_latest(process) + generate_latest(scraped), content_type=CONTENT_TYPE_LATEST)
