"""Request rate limits per project and Pinpoint operation, as Pinpoint throttles: 429
TooManyRequestsException in Pinpoint's error shape, no Retry-After header.

A fixed one-second window counter per (project, operation), atomic across processes and hosts:
Redis INCR when ENGAGE_REDIS_URL is set, else one database row per (project, operation) moved to
the current window and counted by a single upsert. Quotas default to Pinpoint's documented burst
rates and are overridden by ENGAGE_API_RATE_LIMITS (a JSON object, see `parse_limits`).
"""

import json
import logging
import os
import random
import time
from dataclasses import dataclass
from functools import cache, lru_cache

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from rest_framework.throttling import BaseThrottle

from engage.api import operations
from engage.api.errors import TooManyRequests

logger = logging.getLogger("engage.api")

LIMITS_ENV = "ENGAGE_API_RATE_LIMITS"
PREFIX_ENV = "ENGAGE_API_RATE_LIMIT_PREFIX"
REDIS_ENV = "ENGAGE_REDIS_URL"
DEFAULT_PREFIX = "engage:ratelimit:"
WINDOW_SECONDS = 1

# Pinpoint's per-operation burst quotas (developer guide, 2023 snapshot), requests per second.
DEFAULT_LIMITS: dict[str, int] = {
    "CreateCampaign": 25,
    "UpdateCampaign": 25,
    "DeleteCampaign": 25,
    "CreateSegment": 25,
    "UpdateSegment": 25,
    "DeleteSegment": 25,
    "DeleteEndpoint": 1_000,
    "GetEndpoint": 7_000,
    "PhoneNumberValidate": 20,
    "PutEvents": 7_000,
    "SendMessages": 4_000,
    "SendUsersMessages": 6_000,
    "UpdateEndpoint": 5_000,
    "UpdateEndpointsBatch": 5_000,
}
DEFAULT_OTHER = 300
OFF = "off"

# Database rows of projects or operations not seen for this long are deleted, now and then.
_STALE_SECONDS = 3600
_CLEANUP_CHANCE = 0.001


@dataclass(frozen=True)
class Limits:
    by_operation: dict[str, int | None]  # None: not limited
    other: int | None

    def quota(self, operation: str) -> int | None:
        return self.by_operation.get(operation, self.other)


def _value(name: str, value) -> int | None:
    if isinstance(value, str) and value.strip().lower() == OFF:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            f"{LIMITS_ENV}: the limit of {name!r} must be a whole number of requests per second "
            f'(0 or "off" for no limit), not {value!r}.'
        )
    return value or None


@lru_cache(maxsize=8)
def parse_limits(raw: str) -> Limits:
    """ENGAGE_API_RATE_LIMITS: empty for Pinpoint's defaults, "off" for no limits at all, or a JSON
    object of operation name → requests per second, "*" for every operation not named; 0 or "off"
    lifts an operation's limit. Named operations keep their Pinpoint default unless overridden."""
    raw = raw.strip()
    if not raw:
        return Limits(dict(DEFAULT_LIMITS), DEFAULT_OTHER)
    if raw.lower() == OFF:
        return Limits({}, None)
    try:
        given = json.loads(raw)
    except ValueError as error:
        raise ImproperlyConfigured(
            f'{LIMITS_ENV} must be "off" or a JSON object such as {{"PutEvents": 100, "*": 50}}: {error}.'
        ) from None
    if not isinstance(given, dict):
        raise ImproperlyConfigured(
            f'{LIMITS_ENV} must be "off" or a JSON object such as {{"PutEvents": 100, "*": 50}}, not {raw!r}.'
        )
    known = {op.name for op in operations.operations()}
    unknown = sorted(set(given) - known - {"*"})
    if unknown:
        raise ImproperlyConfigured(f"{LIMITS_ENV} names operations Pinpoint does not have: {', '.join(unknown)}.")
    by_operation: dict[str, int | None] = dict(DEFAULT_LIMITS)
    other = _value("*", given["*"]) if "*" in given else DEFAULT_OTHER
    by_operation.update({name: _value(name, value) for name, value in given.items() if name != "*"})
    return Limits(by_operation, other)


def limits() -> Limits:
    return parse_limits(os.environ.get(LIMITS_ENV, ""))


@checks.register(checks.Tags.compatibility)
def check_limits(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        limits()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="engage.E101")]
    return []


# Counters --------------------------------------------------------------------------------------


def _window(now: float | None) -> int:
    return int((time.time() if now is None else now) // WINDOW_SECONDS)


@cache
def _redis_client(url: str):
    import redis  # only when ENGAGE_REDIS_URL is set

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _redis_count(url: str, key: str, window: int) -> int:
    name = f"{os.environ.get(PREFIX_ENV, DEFAULT_PREFIX)}{key}:{window}"
    pipeline = _redis_client(url).pipeline(transaction=True)
    pipeline.incr(name)
    pipeline.expire(name, 5 * WINDOW_SECONDS)  # outlives the window: hosts' clocks differ a little
    count, _ = pipeline.execute()
    return int(count)


# One row per key. A request of a newer window restarts the row's count there; a request stamped
# with an older window (a host whose clock lags) counts in the row's newer window, so no host's
# clock can reopen a window that is already full.
_UPSERT = """
INSERT INTO engage_ratecounter ("key", window_start, hits) VALUES (%s, %s, 1)
ON CONFLICT ("key") DO UPDATE SET
    hits = CASE WHEN excluded.window_start > engage_ratecounter.window_start
                THEN 1 ELSE engage_ratecounter.hits + 1 END,
    window_start = CASE WHEN excluded.window_start > engage_ratecounter.window_start
                        THEN excluded.window_start ELSE engage_ratecounter.window_start END
RETURNING hits
"""


def _database_count(key: str, window: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key, window])
        (count,) = cursor.fetchone()
    if random.random() < _CLEANUP_CHANCE:
        delete_stale(now=window * WINDOW_SECONDS)
    return int(count)


def delete_stale(*, now: float | None = None) -> int:
    """Delete the counter rows of keys not counted for an hour (deleted projects, operations no
    longer called); the limiter does this itself on about one request in a thousand."""
    stale = _window(now) - _STALE_SECONDS // WINDOW_SECONDS
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM engage_ratecounter WHERE window_start < %s", [stale])
        return cursor.rowcount


_last_redis_warning = 0.0


def count(key: str, *, now: float | None = None) -> int:
    """Count one request for `key` in the window of `now` (default: the clock); the window's total.

    If Redis cannot be reached the request is let through (0) and a warning logged, once a minute:
    an unreachable limiter must not take the API down with it.
    """
    global _last_redis_warning
    window = _window(now)
    url = os.environ.get(REDIS_ENV)
    if not url:
        return _database_count(key, window)
    try:
        return _redis_count(url, key, window)
    except Exception as error:  # redis.RedisError and socket errors alike
        if time.monotonic() - _last_redis_warning > 60:
            _last_redis_warning = time.monotonic()
            logger.warning("rate limits not enforced: Redis at %s is unreachable (%s)", REDIS_ENV, error)
        return 0


def allow(key: str, limit: int, *, now: float | None = None) -> bool:
    return count(key, now=now) <= limit


# The API -----------------------------------------------------------------------------------------


def enforce(request, scope: str) -> None:
    """Count this request against its operation's quota for `scope` ("project:<pk>"); raise
    TooManyRequests over the quota. Requests that are no Pinpoint operation are not counted."""
    operation = operations.operation_for(request.method, request.path_info)
    if operation is None:
        return
    quota = limits().quota(operation.name)
    if quota is None:
        return
    if not allow(f"{scope}:{operation.name}", quota):
        raise TooManyRequests(f"Rate exceeded: {operation.name} allows {quota} requests per second.")


class PinpointRateThrottle(BaseThrottle):
    """For API views outside a project (apps, templates, tags, phone validation): counts per
    authenticated user. Project views count per project in ProjectScopedMixin, after the project
    is resolved and access checked, so this throttle leaves them alone."""

    def allow_request(self, request, view) -> bool:
        if getattr(view, "rate_limited_per_project", False):
            return True
        user = getattr(request, "user", None)
        enforce(request, f"user:{user.pk}" if user is not None and user.pk is not None else "anonymous")
        return True
