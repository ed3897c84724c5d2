"""The events explorer: how many events of each type a project stored per UTC day, optionally only
those with one attribute value, and funnels across a sequence of event types.

- Counts by type and day come from the rollup (audience.analytics.rollups.rollup_sum): an event type
  is a rollup metric, except the derived metrics (`send.accepted`, `open.unique`...) and the send
  events, whose metric carries their status (`_campaign.send:SUCCESS` counts as `_campaign.send`).
- Counts of events with an attribute value cannot come from the rollup (it keeps no attributes):
  they read the project's Event rows at request time (index project, event_type, timestamp; the
  attribute from the JSON column), bounded by a statement timeout on PostgreSQL.
- A funnel counts distinct endpoints: those with a step-1 event in the range, of them those with a
  step-2 event at or after their first step-1 event, and so on — each step at or after the earliest
  time the endpoint reached the step before (taking the earliest can only let more endpoints reach
  the next steps, so it is the right choice). One SQL statement, a GROUP BY per step; no row per
  event or endpoint comes to Python.

Days and ranges are UTC; a range is at most MAX_DAYS days, both ends included.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from django.db import connection
from django.db.models import BooleanField, Count, DurationField, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncDate

from audience.analytics.rollups import (
    DERIVED_METRICS,
    SEND_STATUS,
    rollup_sum,
)
from audience.models import Event, EventKey, EventKeyKind, MetricDay
from engage import db

MAX_DAYS = 92
MIN_STEPS, MAX_STEPS = 2, 5
# Raw-event queries (attribute filter, funnels) give up after this long on PostgreSQL.
RAW_QUERY_MS = 15_000


class ExplorerError(Exception):
    """The question cannot be answered as asked (range too long, too slow...); the message says why."""


@dataclass(frozen=True)
class EventCounts:
    """Events per (UTC day, event type) over `days`; `raw` when they were read from the events."""

    days: list[date]
    counts: dict[tuple[date, str], int]
    raw: bool = False
    totals: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        totals: dict[str, int] = defaultdict(int)
        for (_, kind), value in self.counts.items():
            totals[kind] += value
        ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
        object.__setattr__(self, "totals", dict(ranked))

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def series(self, kind: str) -> list[int]:
        """The type's count on each day of the range (0 for days without any)."""
        return [self.counts.get((day, kind), 0) for day in self.days]


@dataclass(frozen=True)
class FunnelStep:
    number: int
    event_type: str
    endpoints: int
    dropped: int | None  # left after the previous step; None for step 1
    from_previous: float | None  # percent of the previous step's endpoints; None for step 1 or after 0
    from_first: float | None  # percent of step 1's endpoints; None when step 1 had none


@dataclass(frozen=True)
class Funnel:
    steps: list[FunnelStep]
    window: timedelta | None

    @property
    def completed(self) -> int:
        """Endpoints that did every step."""
        return self.steps[-1].endpoints

    @property
    def overall(self) -> float | None:
        """Percent of the endpoints that did step 1 and went on to do every step."""
        return self.steps[-1].from_first


def check_range(start: date, end: date) -> None:
    """Raises ExplorerError unless start <= end and the range is at most MAX_DAYS days."""
    if end < start:
        raise ExplorerError("The range ends before it starts.")
    if (end - start).days + 1 > MAX_DAYS:
        raise ExplorerError(f"The range is {(end - start).days + 1} days; at most {MAX_DAYS}.")


def range_days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC)."""
    return datetime.combine(start, time(), tzinfo=UTC), datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)


def event_type_of(metric: str) -> str | None:
    """The event type a rollup metric counts, or None for a derived metric."""
    if metric in DERIVED_METRICS:
        return None
    for kind in SEND_STATUS:
        if metric.startswith(f"{kind}:"):
            return kind
    return metric


def event_type_metrics(project_id: str) -> dict[str, list[str]]:
    """The project's event types (every type it ever stored, sorted) and the rollup metrics of each."""
    metrics = (
        MetricDay.objects.using(db.read_alias())
        .filter(project_id=project_id)
        .values_list("metric", flat=True)
        .distinct()
    )
    types: dict[str, list[str]] = defaultdict(list)
    for metric in metrics:
        kind = event_type_of(metric)
        if kind is not None:
            types[kind].append(metric)
    return {kind: sorted(types[kind]) for kind in sorted(types)}


def event_attribute_names(project_id: str) -> list[str]:
    """The custom event attribute names of the project (for suggestions; reserved names aside)."""
    names = (
        EventKey.objects.using(db.read_alias())
        .filter(project_id=project_id, kind=EventKeyKind.ATTRIBUTE)
        .values_list("name", flat=True)
    )
    return sorted(names)


def counts_by_day(
    project_id: str,
    start: date,
    end: date,
    *,
    types: Sequence[str] = (),
    known: dict[str, list[str]] | None = None,
) -> EventCounts:
    """Events per UTC day and type from the rollup, for `types` (all the project's when empty).
    `known`: event_type_metrics(project_id), when the caller has it already."""
    check_range(start, end)
    known = event_type_metrics(project_id) if known is None else known
    wanted = list(types) or list(known)
    metrics = [metric for kind in wanted for metric in known.get(kind, [kind])]
    counts: dict[tuple[date, str], int] = defaultdict(int)
    if metrics:
        for row in rollup_sum(project_id, start, end, metrics=metrics, group_by=("day", "metric")):
            kind = event_type_of(row["metric"])
            if kind is not None and row["value"]:
                counts[(row["day"], kind)] += row["value"]
    return EventCounts(days=range_days(start, end), counts=dict(counts))


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _with_attribute(events: QuerySet[Event], name: str, value: str) -> QuerySet[Event]:
    """The events whose attribute `name` is the string `value`."""
    if db.is_postgresql():
        # Cast: a plain text comparison (a key transform's own `exact` compares JSON values).
        text = Cast(KeyTextTransform(name, "attributes"), TextField())
        return events.annotate(attribute_value=text).filter(attribute_value=value)
    # SQLite's JSON paths cannot name a key holding a double quote; json_each reads any key.
    table = connection.ops.quote_name(Event._meta.db_table)
    pairs = f"SELECT 1 FROM json_each({table}.attributes) AS pair WHERE pair.key = %s AND pair.value = %s"
    return events.filter(RawSQL(f"EXISTS ({pairs})", (name, value), output_field=BooleanField()))


def counts_by_day_where(
    project_id: str,
    start: date,
    end: date,
    *,
    attribute: str,
    value: str,
    types: Sequence[str] = (),
) -> EventCounts:
    """Events per UTC day and type whose attribute `attribute` is `value`, read from the events
    (types: all when empty). Raises ExplorerError when the database gives up (PostgreSQL timeout)."""
    check_range(start, end)
    low, high = _bounds(start, end)
    events = Event.objects.filter(project_id=project_id, timestamp__gte=low, timestamp__lt=high)
    if types:
        events = events.filter(event_type__in=list(types))
    rows = (
        _with_attribute(events, attribute, value)
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("day", "event_type")
        .annotate(events=Count("id"))
        .order_by()
    )
    sql, params = rows.query.sql_with_params()
    fetched = db.run_within(sql, list(params), milliseconds=RAW_QUERY_MS, alias=db.read_alias())
    if fetched is None:
        raise ExplorerError(
            "Counting the events with this attribute took too long; choose a shorter range or fewer event types."
        )
    counts = {(_as_date(day), kind): events for day, kind, events in fetched}
    return EventCounts(days=range_days(start, end), counts=counts, raw=True)


def funnel_sql(steps: Sequence[str], *, window: timedelta | None) -> str:
    """The funnel's statement: a CTE per step keeping each endpoint's first step-1 time and the time
    it reached the step; the answer is one row of distinct endpoints per step."""
    quote = connection.ops.quote_name
    table, at = quote(Event._meta.db_table), quote("timestamp")
    ctes = [
        f"s1 AS (SELECT endpoint_key, MIN({at}) AS first_at, MIN({at}) AS reached_at FROM {table} "
        f"WHERE project_id = %s AND event_type = %s AND {at} >= %s AND {at} < %s AND endpoint_key <> '' "
        "GROUP BY endpoint_key)"
    ]
    within = ""
    if window is not None:
        within = f" AND e.{at} <= " + connection.ops.combine_duration_expression("+", ["p.first_at", "%s"])
    for number in range(2, len(steps) + 1):
        ctes.append(
            f"s{number} AS (SELECT p.endpoint_key, p.first_at, MIN(e.{at}) AS reached_at "
            f"FROM s{number - 1} p JOIN {table} e ON e.project_id = %s AND e.endpoint_key = p.endpoint_key "
            f"AND e.event_type = %s AND e.{at} >= p.reached_at AND e.{at} >= %s AND e.{at} < %s{within} "
            "GROUP BY p.endpoint_key, p.first_at)"
        )
    counts = ", ".join(f"(SELECT COUNT(*) FROM s{number})" for number in range(1, len(steps) + 1))
    return f"WITH {', '.join(ctes)} SELECT {counts}"


def funnel(project_id: str, start: date, end: date, steps: Sequence[str], *, window: timedelta | None = None) -> Funnel:
    """Distinct endpoints per step of the funnel `steps` (2 to 5 event types) in [start, end]: each
    step at or after the time the endpoint reached the previous one and, with `window`, at most
    `window` after its first step-1 event. Raises ExplorerError for a bad question or a timeout."""
    check_range(start, end)
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise ExplorerError(f"A funnel has {MIN_STEPS} to {MAX_STEPS} steps.")
    if any(a == b for a, b in pairwise(steps)):
        raise ExplorerError("Two steps in a row are the same event type: the second would always follow the first.")
    if window is not None and window <= timedelta(0):
        raise ExplorerError("The conversion window must be positive.")
    low, high = (connection.ops.adapt_datetimefield_value(bound) for bound in _bounds(start, end))
    span = DurationField().get_db_prep_value(window, connection) if window is not None else None
    params: list = [project_id, steps[0], low, high]
    for kind in steps[1:]:
        # The range's start again: a plain bound the (project, event_type, timestamp) index can use.
        params += [project_id, kind, low, high] + ([span] if window is not None else [])
    fetched = db.run_within(funnel_sql(steps, window=window), params, milliseconds=RAW_QUERY_MS, alias=db.read_alias())
    if fetched is None:
        raise ExplorerError("The funnel took too long to compute; choose a shorter range.")
    reached = [int(n) for n in fetched[0]]
    result = []
    for index, (kind, endpoints) in enumerate(zip(steps, reached, strict=True)):
        previous = reached[index - 1] if index else None
        result.append(
            FunnelStep(
                number=index + 1,
                event_type=kind,
                endpoints=endpoints,
                dropped=None if previous is None else previous - endpoints,
                from_previous=_percent(endpoints, previous) if previous is not None else None,
                from_first=_percent(endpoints, reached[0]),
            )
        )
    return Funnel(steps=result, window=window)


def _percent(part: int, whole: int | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None
