"""/healthz: is the database answering, and the django-q2 broker (the database, or Redis)?

No login and no project: load balancers and orchestrators call it. The body names each part;
a failing part reads "error" (its cause goes to the log, not to an anonymous caller).
"""

import logging

from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers import Broker, get_broker

logger = logging.getLogger(__name__)

_broker: Broker | None = None


def _get_broker() -> Broker:
    # One broker (one Redis connection pool) per process, not one per health check.
    global _broker
    if _broker is None:
        _broker = get_broker()
    return _broker


def queue_depth() -> int:
    """Tasks waiting in the django-q2 queue; raises when the broker cannot be reached."""
    return int(_get_broker().queue_size() or 0)


def check_database() -> None:
    """Raises unless the default database answers a query."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    """Raises unless the django-q2 broker answers (Redis: PING and the queue's length; ORM: its table)."""
    broker = _get_broker()
    broker.ping()
    broker.queue_size()


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 {"database": "ok", "broker": "ok"}; 503 with the failing part as "error"."""
    parts = {"database": check_database, "broker": check_broker}
    result = {}
    for name, check in parts.items():
        try:
            check()
            result[name] = "ok"
        except Exception:
            logger.warning("healthz: the %s does not answer", name, exc_info=True)
            result[name] = "error"
    healthy = all(value == "ok" for value in result.values())
    return JsonResponse(result, status=200 if healthy else 503)
