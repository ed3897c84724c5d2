"""The analytics rollup: events counted per project, UTC day, source, channel and campaign/journey
activity (audience.models.MetricDay), kept current in the transaction that stores the events.

`rollup_events(rows)` is called by audience.streams.services.events_insert with the Event rows the
insert actually wrote (a retried event is not counted twice). Each event adds 1 to its own metric —
its event type, or for `_campaign.send` / `_journey.send` the type and its send status — and to the
derived metrics below. Counts that a sum of days cannot give use first-ness rows
(audience.models.AnalyticsSeen): an endpoint's first app event of a day, a message's first open or
click. Everything that reads analytics sums these rows (`rollup_sum`), so a month of a large project
is a few thousand rows, whatever the number of events.

`rollup_rebuild(project_id)` recomputes a project's rows from its events (after an upgrade that
brings analytics to existing data, or to check the live counts: tests compare both).
"""

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum

from audience.models import AnalyticsSeen, Event, MetricDay, MetricSource
from engage.db import insert_new_returning, read_alias, upsert_add

# Derived metrics (see the module docstring and README "Analytics").
SEND_ACCEPTED = "send.accepted"  # a provider accepted the message (or a push/custom send went out)
SEND_FAILED = "send.failed"  # the message could not be sent, for good
BOUNCED_AFTER = "bounce.after_send"  # a provider reported a failure after accepting it
OPEN_UNIQUE = "open.unique"  # a message's first open
CLICK_UNIQUE = "click.unique"  # a message's first click
ACTIVE = "endpoints.active"  # an endpoint's first app event of the day
SMS_PARTS = "sms.parts"
SMS_PRICE = "sms.price_millicents"

DERIVED_METRICS = frozenset(
    {SEND_ACCEPTED, SEND_FAILED, BOUNCED_AFTER, OPEN_UNIQUE, CLICK_UNIQUE, ACTIVE, SMS_PARTS, SMS_PRICE}
)

CAMPAIGN_SEND = "_campaign.send"
JOURNEY_SEND = "_journey.send"
SEND_STATUS = {CAMPAIGN_SEND: "campaign_send_status", JOURNEY_SEND: "journey_send_status"}
FAILED_STATUSES = frozenset(
    {"FAILURE", "FAILURE_PERMANENT", "TRANSIENT_FAILURE", "UNSUPPORTED_CHANNEL", "CUSTOM_DELIVERY_FAILURE"}
)
ACCEPTED_EVENTS = frozenset({"_email.send", "_SMS.BUFFERED"})
FAILURE_EVENTS = frozenset({"_email.hardbounce", "_SMS.FAILURE"})
PUSH_EVENTS = frozenset(
    {
        "_campaign.opened_notification",
        "_campaign.received_foreground",
        "_campaign.received_background",
        "_journey.opened_notification",
        "_journey.received_foreground",
        "_journey.received_background",
    }
)
PUSH_OPENS = ("_campaign.opened_notification", "_journey.opened_notification")
OPT_OUTS = ("_email.unsubscribe", "_SMS.OPTOUT")
# Channel groups for reading: a push message's channel is its platform.
CHANNEL_GROUPS: Mapping[str, tuple[str, ...]] = {
    "EMAIL": ("EMAIL",),
    "SMS": ("SMS",),
    "PUSH": ("PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU"),
    "VOICE": ("VOICE",),
    "CUSTOM": ("CUSTOM",),
    "IN_APP": ("IN_APP",),
}
DIMENSIONS = (
    "project",
    "day",
    "source",
    "channel",
    "campaign_id",
    "campaign_activity_id",
    "treatment_id",
    "journey_id",
    "journey_activity_id",
)
GROUPABLE = frozenset((*DIMENSIONS[1:], "metric"))
KEY_FIELDS = (*DIMENSIONS, "metric")
REBUILD_CHUNK = 5000

Dims = tuple[str, date, str, str, str, str, str, str, str]


def delivered(accepted: int, bounced_after: int) -> int:
    """Messages delivered: accepted by a channel and not reported bounced afterwards (never < 0)."""
    return max(accepted - bounced_after, 0)


def is_reserved_event_type(event_type: str) -> bool:
    """A name PutEvents refuses because the rollup uses it for a counter of its own: a derived
    metric, or a send event with its status (`_campaign.send:SUCCESS`)."""
    return event_type in DERIVED_METRICS or event_type.startswith((f"{CAMPAIGN_SEND}:", f"{JOURNEY_SEND}:"))


def is_engage_event(event_type: str) -> bool:
    """Events Engage writes itself (sends, email and SMS outcomes) — not the app's activity."""
    return event_type in SEND_STATUS or event_type.startswith(("_email.", "_SMS."))


def day_of(event: Event) -> date:
    return event.timestamp.astimezone(UTC).date()


def _attribute(event: Event, name: str) -> str:
    value = (event.attributes or {}).get(name)
    return str(value) if value is not None else ""


def dimensions_of(event: Event) -> Dims:
    kind = event.event_type
    campaign_id, journey_id = _attribute(event, "campaign_id"), _attribute(event, "journey_id")
    if campaign_id:
        source = MetricSource.CAMPAIGN
    elif journey_id:
        source = MetricSource.JOURNEY
    elif kind.startswith(("_email.", "_SMS.")):
        source = MetricSource.TRANSACTIONAL
    else:
        source = MetricSource.APP
    if kind.startswith("_email."):
        channel = "EMAIL"
    elif kind.startswith("_SMS."):
        channel = "SMS"
    elif kind == CAMPAIGN_SEND:
        channel = _attribute(event, "delivery_type")
    elif kind == JOURNEY_SEND:
        channel = _attribute(event, "journey_activity_type")
    elif kind in PUSH_EVENTS:
        channel = "PUSH"
    else:
        channel = ""
    return (
        event.project_id,
        day_of(event),
        str(source),
        channel,
        campaign_id,
        _attribute(event, "campaign_activity_id") if campaign_id else "",
        _attribute(event, "treatment_id") if campaign_id else "",
        journey_id,
        _attribute(event, "journey_activity_id") if journey_id else "",
    )


def metrics_of(event: Event, channel: str) -> Iterator[tuple[str, int]]:
    """The metrics one event adds to (first-ness metrics aside), with the amount."""
    kind = event.event_type
    if kind in SEND_STATUS:
        status = _attribute(event, SEND_STATUS[kind])
        yield f"{kind}:{status}", 1
        if status == "SUCCESS" and channel not in ("EMAIL", "SMS"):
            yield SEND_ACCEPTED, 1
        elif status in FAILED_STATUSES:
            yield SEND_FAILED, 1
        return
    yield kind, 1
    if kind in ACCEPTED_EVENTS:
        yield SEND_ACCEPTED, 1
    elif kind in FAILURE_EVENTS:
        yield (SEND_FAILED if "error" in (event.attributes or {}) else BOUNCED_AFTER), 1
    if kind == "_SMS.BUFFERED":
        parts = _attribute(event, "number_of_message_parts")
        yield SMS_PARTS, int(parts) if parts.isdigit() else 1
        price = (event.metrics or {}).get("price_in_millicents_usd")
        if isinstance(price, int | float):
            yield SMS_PRICE, round(price)


def _first_candidates(event: Event, dims: Dims) -> Iterator[tuple[str, str, date, str, Dims]]:
    """(scope, key, day, metric, the dimensions the metric is counted under) of what this event may
    be the first of."""
    kind = event.event_type
    if kind in ("_email.open", "_email.click"):
        message_id = _attribute(event, "message_id")
        if message_id:
            scope = "open" if kind == "_email.open" else "click"
            yield scope, message_id, AnalyticsSeen.ANY_DAY, (OPEN_UNIQUE if scope == "open" else CLICK_UNIQUE), dims
    elif event.endpoint_key and not is_engage_event(kind):
        app_dims: Dims = (dims[0], dims[1], str(MetricSource.APP), "", "", "", "", "", "")
        yield "active", event.endpoint_key, dims[1], ACTIVE, app_dims


def rollup_events(rows: Sequence[Event]) -> None:
    """Count newly inserted events into MetricDay (in the caller's transaction)."""
    if not rows:
        return
    counts: Counter[tuple] = Counter()
    firsts: dict[tuple[str, str, str, date], tuple[str, Dims]] = {}
    for event in rows:
        dims = dimensions_of(event)
        for metric, amount in metrics_of(event, dims[3]):
            counts[(*dims, metric)] += amount
        for scope, key, day, metric, where in _first_candidates(event, dims):
            firsts.setdefault((event.project_id, scope, key[:255], day), (metric, where))
    if firsts:
        seen = [AnalyticsSeen(project_id=p, scope=scope, key=key, day=day) for p, scope, key, day in firsts]
        for project_id, scope, key, day in insert_new_returning(
            AnalyticsSeen, seen, ("project", "scope", "key", "day")
        ):
            if not isinstance(day, date):
                day = date.fromisoformat(str(day)[:10])
            metric, where = firsts[(project_id, scope, key, day)]
            counts[(*where, metric)] += 1
    upsert_add(MetricDay, KEY_FIELDS, [(*key, amount) for key, amount in counts.items() if amount], "value")


def rollup_rebuild(project_id: str) -> int:
    """Recompute a project's MetricDay and AnalyticsSeen rows from its events (in event id order, as
    they were stored); returns the number of events read. One transaction."""
    read = 0
    with transaction.atomic():
        MetricDay.objects.filter(project_id=project_id).delete()
        AnalyticsSeen.objects.filter(project_id=project_id).delete()
        last = 0
        while True:
            chunk = list(Event.objects.filter(project_id=project_id, id__gt=last).order_by("id")[:REBUILD_CHUNK])
            if not chunk:
                return read
            rollup_events(chunk)
            read += len(chunk)
            last = chunk[-1].id


def _filtered(queryset, filters: Mapping[str, Any]):
    for name, value in filters.items():
        if name not in GROUPABLE or name in ("day", "metric"):
            raise ValueError(f"Not a rollup filter: {name}")
        if isinstance(value, str):
            queryset = queryset.filter(**{name: value})
        else:
            queryset = queryset.filter(**{f"{name}__in": list(value)})
    return queryset


def rollup_sum(
    project_id: str,
    start: date,
    end: date,
    *,
    metrics: Iterable[str],
    group_by: Sequence[str] = (),
    **filters: str | Sequence[str],
) -> list[dict[str, Any]]:
    """SUM(value) of the project's MetricDay rows with day in [start, end] and metric in `metrics`,
    filtered by column=value (or a list of values) and grouped by `group_by` columns. Each result:
    the group_by columns and "value"; ordered by the group_by columns."""
    unknown = set(group_by) - GROUPABLE
    if unknown:
        raise ValueError(f"Not a rollup column: {', '.join(sorted(unknown))}")
    rows = MetricDay.objects.using(read_alias()).filter(
        project_id=project_id, day__gte=start, day__lte=end, metric__in=list(metrics)
    )
    rows = _filtered(rows, filters)
    if not group_by:
        return [{"value": rows.aggregate(value=Sum("value"))["value"] or 0}]
    return list(rows.values(*group_by).annotate(value=Sum("value")).order_by(*group_by))


def active_endpoints(project_id: str, start: date, end: date) -> int:
    """Distinct endpoints that sent at least one app event between `start` and `end` (UTC days)."""
    seen = AnalyticsSeen.objects.using(read_alias()).filter(
        project_id=project_id, scope="active", day__gte=start, day__lte=end
    )
    return seen.aggregate(n=Count("key", distinct=True))["n"] or 0
