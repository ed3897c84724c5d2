"""Pinpoint paging (`page-size`, `token` → `NextToken`) as keyset pagination.

The token is opaque to clients: the ordering values of the last item returned, so each page is
one indexed range query however deep the client pages (no OFFSET).
"""

import base64
import binascii
import json
from collections.abc import Sequence

from django.db.models import Model, Q, QuerySet

from engage.api.errors import BadRequest

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size_from(raw: str | None, *, default: int = DEFAULT_PAGE_SIZE) -> int:
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        raise BadRequest(f"page-size must be a whole number, not '{raw}'.") from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page-size must be between 1 and {MAX_PAGE_SIZE}.")
    return size


def _encode(values: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(token: str, width: int) -> list[str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != width or not all(isinstance(v, str) for v in values):
        raise BadRequest("The token is not valid. Use the NextToken of a previous response.")
    return values


def _after(order: Sequence[str], values: list[str]) -> Q:
    # (a, b) > (x, y)  ==  a > x OR (a = x AND b > y), which PostgreSQL and SQLite both index.
    condition = Q()
    for i, field in enumerate(order):
        step = Q(**{f"{field}__gt": values[i]})
        for prev, value in zip(order[:i], values[:i], strict=False):
            step &= Q(**{prev: value})
        condition |= step
    return condition


def _value(item: Model, field: str) -> str:
    value = getattr(item, field)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def paginate(
    queryset: QuerySet, *, page_size: str | None, token: str | None, order: Sequence[str] = ("id",)
) -> tuple[list[Model], str | None]:
    """One page of `queryset` in `order` (a unique key); returns (items, NextToken or None)."""
    size = page_size_from(page_size)
    queryset = queryset.order_by(*order)
    if token:
        queryset = queryset.filter(_after(order, _decode(token, len(order))))
    items = list(queryset[: size + 1])
    if len(items) <= size:
        return items, None
    items = items[:size]
    return items, _encode([_value(items[-1], field) for field in order])


def page(items: list, next_token: str | None) -> dict:
    """A list answer's body: `Item`, and `NextToken` only when a next page exists. Pinpoint leaves
    the member out on the last page; a JSON null is not a string to the model (and to some SDKs)."""
    return {"Item": items, "NextToken": next_token} if next_token else {"Item": items}
