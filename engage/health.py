"""/healthz: is the database answering, and the django-q2 broker (the database, or Redis)? And the
read replica, when DATABASE_REPLICA_URL configures one.

No login and no project: load balancers and orchestrators call it. The body names each part;
a failing part reads "error" (its cause goes to the log, not to an anonymous caller). The answer is
503 when the database or the broker fails: this host cannot serve. A failing replica is reported
but answers 200: every web host shares it, so taking them all out of the load balancer would turn
slow analytics into an outage; alert on the "replica" part instead.
"""

import logging

from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers import Broker, get_broker

from engage.db import REPLICA

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


def check_database(alias: str = "default") -> None:
    """Raises unless the database (`alias`) answers a query."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_replica() -> None:
    check_database(REPLICA)


def check_broker() -> None:
    """Raises unless the django-q2 broker answers (Redis: PING and the queue's length; ORM: its table)."""
    broker = _get_broker()
    broker.ping()
    broker.queue_size()


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 {"database": "ok", "broker": "ok"} (and "replica" when one is configured); 503 with the
    failing part as "error" when the database or the broker fails."""
    parts = {"database": check_database, "broker": check_broker}
    if REPLICA in connections.settings:
        parts["replica"] = check_replica
    result = {}
    for name, check in parts.items():
        try:
            check()
            result[name] = "ok"
        except Exception:
            logger.warning("healthz: the %s does not answer", name, exc_info=True)
            result[name] = "error"
    healthy = result["database"] == result["broker"] == "ok"
    return JsonResponse(result, status=200 if healthy else 503)
