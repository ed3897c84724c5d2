"""KPI figures that daily rollup rows cannot give, counted from the events at request time: distinct
recipients (unique deliveries, unique opens and clicks) and transactional SMS per destination
country and message part. Used by audience.analytics.kpis; each is one or two grouped queries over
the range's events (index `(project, event_type, timestamp)`)."""

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

import phonenumbers
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, TextField, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Concat, TruncDate

from audience.analytics.rollups import ACCEPTED_EVENTS, CAMPAIGN_SEND, JOURNEY_SEND
from audience.models import Event, MetricSource
from engage.db import read_alias

ACCEPTED = "accepted"  # the `event_type` of recipients(): messages a channel accepted
UNKNOWN_COUNTRY = "ZZ"  # ISO 3166 "unknown or unspecified", as libphonenumber says it
SMS_FIGURES = ("sent", "delivered", "sent_parts", "delivered_parts")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _text(name: str) -> Coalesce:
    """An attribute as text ("" when absent)."""
    return Coalesce(KeyTextTransform(name, "attributes"), Value(""), output_field=TextField())


def _events(project_id: str, start: date, end: date) -> QuerySet:
    """The project's events of the UTC days [start, end], with their campaign and journey ids."""
    return (
        Event.objects.using(read_alias())
        .filter(
            project_id=project_id, timestamp__gte=day_start(start), timestamp__lt=day_start(end + timedelta(days=1))
        )
        .annotate(campaign_id=_text("campaign_id"), journey_id=_text("journey_id"))
    )


def _accepted(events: QuerySet) -> QuerySet:
    """Messages a channel accepted: email and SMS by their own events, other channels by their send
    event with status SUCCESS (the outbox writes no event for push, custom or voice)."""
    events = events.annotate(
        send_status=Coalesce(
            KeyTextTransform("campaign_send_status", "attributes"),
            _text("journey_send_status"),
            output_field=TextField(),
        ),
        send_channel=Coalesce(
            KeyTextTransform("delivery_type", "attributes"), _text("journey_activity_type"), output_field=TextField()
        ),
    )
    sent = Q(event_type__in=(CAMPAIGN_SEND, JOURNEY_SEND), send_status="SUCCESS") & ~Q(
        send_channel__in=("EMAIL", "SMS")
    )
    return events.filter(Q(event_type__in=ACCEPTED_EVENTS) | sent)


def recipients(
    project_id: str,
    start: date,
    end: date,
    *,
    event_type: str,
    source: str = "",
    scope: Mapping[str, str] | None = None,
    group_by: str = "",
) -> dict[str, int]:
    """Distinct recipients of `event_type` events (ACCEPTED: accepted messages) in the UTC days
    [start, end]: the endpoint, or the address of a message sent to a bare address. `source`
    CAMPAIGN keeps campaign messages, TRANSACTIONAL those of neither a campaign nor a journey;
    `scope` filters campaign_id / journey_id. Grouped by "day", "campaign_id" or
    "campaign_activity_id" ({value: count}), else {"": count}."""
    events = _events(project_id, start, end).filter(**(scope or {}))
    if source == MetricSource.CAMPAIGN:
        events = events.exclude(campaign_id="")
    elif source == MetricSource.TRANSACTIONAL:
        events = events.filter(campaign_id="", journey_id="")
    events = _accepted(events) if event_type == ACCEPTED else events.filter(event_type=event_type)
    events = events.annotate(
        who=Case(
            When(endpoint_key="", then=Concat(_text("destination"), _text("destination_phone_number"))),
            default=F("endpoint_key"),
            output_field=TextField(),
        )
    )
    if not group_by:
        return {"": events.aggregate(n=Count("who", distinct=True))["n"] or 0}
    if group_by == "day":
        events = events.annotate(day=TruncDate("timestamp", tzinfo=UTC))
    elif group_by == "campaign_activity_id":
        events = events.annotate(campaign_activity_id=_text("campaign_activity_id"))
    rows = events.values(group_by).annotate(n=Count("who", distinct=True)).order_by(group_by)
    return {_label(row[group_by]): row["n"] for row in rows if row[group_by] != ""}


def _label(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _country(iso_code: str, number: str) -> str:
    if iso_code:
        return iso_code.upper()
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        region = None
    return region or UNKNOWN_COUNTRY


def _parts(raw: str) -> int:
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def sms_by_country(project_id: str, start: date, end: date) -> dict[str, dict[str, int]]:
    """Transactional SMS of the UTC days [start, end] per destination country (the event's
    iso_country_code, else the destination number's; ZZ when none): sent (accepted + failed in the
    outbox), delivered (accepted and not reported failed afterwards), and the message parts of both
    (of accepted messages: a failed one sent none)."""
    events = (
        _events(project_id, start, end)
        .filter(campaign_id="", journey_id="")
        .annotate(
            iso=_text("iso_country_code"),
            number=_text("destination_phone_number"),
            parts=_text("number_of_message_parts"),
            message=_text("message_id"),
        )
    )
    failed = events.filter(event_type="_SMS.FAILURE")
    bounced = failed.filter(message=OuterRef("message")).exclude(attributes__has_key="error")
    accepted = (
        events.filter(event_type="_SMS.BUFFERED")
        .annotate(bounced=Exists(bounced))
        .values("iso", "number", "parts", "bounced")
        .annotate(n=Count("id"))
        .order_by()
    )
    figures: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SMS_FIGURES, 0))
    for row in accepted:
        country, parts = _country(row["iso"], row["number"]), _parts(row["parts"])
        figures[country]["sent"] += row["n"]
        figures[country]["sent_parts"] += row["n"] * parts
        if not row["bounced"]:
            figures[country]["delivered"] += row["n"]
            figures[country]["delivered_parts"] += row["n"] * parts
    for row in failed.filter(attributes__has_key="error").values("iso", "number").annotate(n=Count("id")).order_by():
        figures[_country(row["iso"], row["number"])]["sent"] += row["n"]
    return dict(figures)
