"""The one seam to django-q2. Queues carry ids only; the rows carry state.

Only services enqueue, and only after their transaction commits, so a worker never sees a row
that was rolled back and a crash before commit enqueues nothing.
"""

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django_q.tasks import async_task


def task_path(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def enqueue_on_commit(func: Callable[..., Any], *ids: str | int, group: str | None = None) -> None:
    """Run `func(*ids)` on a worker once the current transaction commits (now if none is open)."""
    path = task_path(func)
    transaction.on_commit(lambda: async_task(path, *ids, group=group))
