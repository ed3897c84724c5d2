"""Pinpoint's standard KPIs (the "date range" metrics of GetApplicationDateRangeKpi,
GetCampaignDateRangeKpi and GetJourneyDateRangeKpi): the catalog, the date-range rules, and the rows.

Every KPI name of Pinpoint's developer guide (analytics-standard-metrics) is in `CATALOG`, per scope.
Most are sums of the analytics rollup (audience.analytics.rollups) with the design's formulas:
attempted = accepted + failed; successful (delivered) = accepted - bounced after acceptance (never
below 0); delivery rate = successful / attempted; email open rate = messages opened / successful
email; push open rate = push notifications opened / successful push. Counts of distinct recipients
(unique deliveries, unique opens and clicks) cannot be summed from daily rows and are counted from the
events at request time, as are the transactional SMS figures per country and per message part. KPIs
Engage has no data for (SMS prices, carrier error codes) answer no rows.

A value is null — no row — when its scope has no data for it (no rollup rows; a rate whose
denominator is 0), as Pinpoint answers. Values are Pinpoint's: strings of doubles ("12.0"), rates as
fractions (0.75), keyed by the KPI's friendly name: the name before "-grouped-by-" in PascalCase
("unique-deliveries" → "UniqueDeliveries", "txn-sms-sent" → "TxnSmsSent", as the guide's examples).
Days are UTC days; a range covers every UTC day that [start, end] touches.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from audience.analytics.kpi_events import ACCEPTED, day_start, recipients, sms_by_country
from audience.analytics.rollups import (
    BOUNCED_AFTER,
    CHANNEL_GROUPS,
    OPEN_UNIQUE,
    PUSH_OPENS,
    SEND_ACCEPTED,
    SEND_FAILED,
    delivered,
    rollup_sum,
)
from audience.models import MetricSource

APPLICATION, CAMPAIGN, JOURNEY = "APPLICATION", "CAMPAIGN", "JOURNEY"
MAX_RANGE_DAYS = 31  # calendar days, both ends included
MAX_AGE_DAYS = 90  # the first day must be fewer than this many days ago (Pinpoint's retention)

Sums = Mapping[str, int]


class KpiUnknown(ValueError):
    """Not a KPI name of this scope."""


class KpiRangeInvalid(ValueError):
    """start-time / end-time break Pinpoint's rules."""


# --- formulas over rollup sums ------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """A value computed from the rollup sums of `metrics` (None: null)."""

    metrics: frozenset[str]
    compute: Callable[[Sums], float | None]

    def __truediv__(self, other: "Measure") -> "Measure":
        def ratio(sums: Sums) -> float | None:
            whole = other.compute(sums)
            part = self.compute(sums)
            return part / whole if whole and part is not None else None

        return Measure(self.metrics | other.metrics, ratio)


def total(*metrics: str) -> Measure:
    return Measure(frozenset(metrics), lambda sums: sum(sums.get(m, 0) for m in metrics))


ATTEMPTED = total(SEND_ACCEPTED, SEND_FAILED)
SUCCESSFUL = Measure(
    frozenset((SEND_ACCEPTED, BOUNCED_AFTER)),
    lambda sums: delivered(sums.get(SEND_ACCEPTED, 0), sums.get(BOUNCED_AFTER, 0)),
)
OPENED = total(OPEN_UNIQUE)  # messages opened (each message's first open)
PUSH_OPENED = total(*PUSH_OPENS)


# --- the catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    column: str  # rollup column (or the events path's name for it)
    key: str  # GroupedBys Key


DATE = Grouping("day", "Date")
BY_CAMPAIGN = Grouping("campaign_id", "CampaignId")
BY_CAMPAIGN_ACTIVITY = Grouping("campaign_activity_id", "CampaignActivityId")
BY_JOURNEY_ACTIVITY = Grouping("journey_activity_id", "JourneyActivityId")
BY_COUNTRY = Grouping("country", "Country")
GROUPINGS = {
    "date": DATE,
    "campaign": BY_CAMPAIGN,
    "campaign-activity": BY_CAMPAIGN_ACTIVITY,
    "journey-activity": BY_JOURNEY_ACTIVITY,
    "country": BY_COUNTRY,
}


@dataclass(frozen=True)
class Rollup:
    """A measure over the rollup rows matching `filters` (plus the scope's campaign or journey)."""

    measure: Measure
    filters: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipients:
    """Distinct recipients (the endpoint, or the address of a message sent to no endpoint) of
    `event_type` events (kpi_events.ACCEPTED: messages a channel accepted), counted from the events
    at request time."""

    event_type: str  # or kpi_events.ACCEPTED
    source: str  # MetricSource.CAMPAIGN / TRANSACTIONAL, or "" for the scope's own messages


@dataclass(frozen=True)
class SmsCountry:
    """A figure of transactional SMS per destination country, from the events at request time."""

    figure: str  # "sent", "delivered", "sent_parts", "delivered_parts"


@dataclass(frozen=True)
class Unsupported:
    """A KPI Engage has no data for: always no rows (the reason is for the docs and the reader)."""

    reason: str


Computation = Rollup | Recipients | SmsCountry | Unsupported


@dataclass(frozen=True)
class Kpi:
    name: str
    computation: Computation
    grouping: Grouping | None

    @property
    def key(self) -> str:
        base = self.name.split("-grouped-by-")[0]
        return "".join(word.capitalize() for word in base.split("-"))


def _kpi(name: str, computation: Computation) -> Kpi:
    grouping = GROUPINGS[name.split("-grouped-by-")[1]] if "-grouped-by-" in name else None
    return Kpi(name, computation, grouping)


def _catalog(entries: Iterable[tuple[str, Computation]]) -> dict[str, Kpi]:
    return {name: _kpi(name, computation) for name, computation in entries}


NO_PRICES = Unsupported("Engage's SMS sends report no price (price_in_millicents_usd).")
EMAIL, PUSH = {"channel": "EMAIL"}, {"channel": CHANNEL_GROUPS["PUSH"]}
CAMPAIGNS = {"source": MetricSource.CAMPAIGN}
TXN_EMAIL = {"source": MetricSource.TRANSACTIONAL, "channel": "EMAIL"}
TXN_SMS = {"source": MetricSource.TRANSACTIONAL, "channel": "SMS"}


def _variants(name: str, computation: Computation, *groupings: str) -> list[tuple[str, Computation]]:
    """The KPI and its "-grouped-by-" forms ("" in `groupings`: the single value)."""
    return [(f"{name}-grouped-by-{g}" if g else name, computation) for g in groupings]


APPLICATION_KPIS = _catalog(
    [
        # All the project's campaigns.
        *_variants("successful-delivery-rate", Rollup(SUCCESSFUL / ATTEMPTED, CAMPAIGNS), "", "date"),
        *_variants("email-open-rate", Rollup(OPENED / SUCCESSFUL, {**CAMPAIGNS, **EMAIL}), "", "campaign"),
        *_variants("unique-deliveries", Recipients(ACCEPTED, MetricSource.CAMPAIGN), "", "campaign", "date"),
        ("successful-deliveries-grouped-by-campaign", Rollup(SUCCESSFUL, CAMPAIGNS)),
        *_variants("push-open-rate", Rollup(PUSH_OPENED / SUCCESSFUL, {**CAMPAIGNS, **PUSH}), "", "campaign"),
        # Transactional email: messages of neither a campaign nor a journey.
        *_variants("txn-emails-clicked", Rollup(total("_email.click"), TXN_EMAIL), "", "date"),
        *_variants("txn-emails-complaint-rate", Rollup(total("_email.complaint") / ATTEMPTED, TXN_EMAIL), "", "date"),
        *_variants("txn-emails-with-complaints", Rollup(total("_email.complaint"), TXN_EMAIL), "", "date"),
        *_variants("txn-emails-delivered", Rollup(SUCCESSFUL, TXN_EMAIL), "", "date"),
        *_variants("txn-emails-delivery-rate", Rollup(SUCCESSFUL / ATTEMPTED, TXN_EMAIL), "", "date"),
        *_variants("txn-emails-hard-bounced", Rollup(total("_email.hardbounce"), TXN_EMAIL), "", "date"),
        *_variants("txn-emails-opened", Rollup(total("_email.open"), TXN_EMAIL), "", "date"),
        *_variants("txn-emails-sent", Rollup(ATTEMPTED, TXN_EMAIL), "", "date"),
        *_variants("txn-emails-soft-bounced", Rollup(total("_email.softbounce"), TXN_EMAIL), "", "date"),
        *_variants("txn-emails-unique-clicks", Recipients("_email.click", MetricSource.TRANSACTIONAL), "", "date"),
        *_variants("txn-emails-unique-opens", Recipients("_email.open", MetricSource.TRANSACTIONAL), "", "date"),
        # Transactional SMS.
        *_variants("txn-sms-delivered", Rollup(SUCCESSFUL, TXN_SMS), "", "date"),
        ("txn-sms-delivered-grouped-by-country", SmsCountry("delivered")),
        *_variants("txn-sms-delivery-rate", Rollup(SUCCESSFUL / ATTEMPTED, TXN_SMS), "", "date"),
        *_variants("txn-sms-sent", Rollup(ATTEMPTED, TXN_SMS), "", "date"),
        ("txn-sms-sent-grouped-by-country", SmsCountry("sent")),
        *_variants("txn-sms-delivered-by-parts", SmsCountry("delivered_parts"), "", "country"),
        *_variants("txn-sms-sent-by-parts", SmsCountry("sent_parts"), "", "country"),
        (
            "txn-sms-error-distribution",
            Unsupported("Engage's SMS failures carry no carrier error code (every outbox failure is UNREACHABLE)."),
        ),
        ("txn-sms-average-price-grouped-by-country", NO_PRICES),
        ("txn-sms-average-price-by-parts-grouped-by-country", NO_PRICES),
        ("txn-sms-total-price-grouped-by-country", NO_PRICES),
    ]
)

HARD_BOUNCE_RATE = Rollup(total("_email.hardbounce") / ATTEMPTED, EMAIL)
CAMPAIGN_KPIS = _catalog(
    [
        *_variants("hard-bounce-rate", HARD_BOUNCE_RATE, "", "campaign-activity"),
        *_variants("successful-delivery-rate", Rollup(SUCCESSFUL / ATTEMPTED), "", "campaign-activity", "date"),
        *_variants("email-open-rate", Rollup(OPENED / SUCCESSFUL, EMAIL), "", "campaign-activity"),
        ("direct-email-opens-grouped-by-campaign-activity", Rollup(OPENED, EMAIL)),
        *_variants("unique-deliveries", Recipients(ACCEPTED, ""), "", "campaign-activity", "date"),
        ("clicks-grouped-by-campaign-activity", Rollup(total("_email.click"), EMAIL)),
        ("successful-deliveries-grouped-by-campaign-activity", Rollup(SUCCESSFUL)),
        ("attempted-deliveries-grouped-by-campaign-activity", Rollup(ATTEMPTED)),
        *_variants("push-open-rate", Rollup(PUSH_OPENED / SUCCESSFUL, PUSH), "", "campaign-activity"),
        ("direct-push-opens-grouped-by-campaign-activity", Rollup(PUSH_OPENED, PUSH)),
        ("sms-spend", NO_PRICES),
    ]
)

JOURNEY_EMAIL_MEASURES: Mapping[str, Measure] = {
    "clicked": total("_email.click"),
    "complained": total("_email.complaint"),
    "delivered": SUCCESSFUL,
    "hardbounced": total("_email.hardbounce"),
    "opened": OPENED,
    "rejected": total("_email.rejected"),
    "sent": ATTEMPTED,
    "softbounced": total("_email.softbounce"),
    "unsubscribed": total("_email.unsubscribe"),
}
JOURNEY_KPIS = _catalog(
    [
        *((f"journey-emails-{what}", Rollup(measure, EMAIL)) for what, measure in JOURNEY_EMAIL_MEASURES.items()),
        *(
            (f"emails-{what}-grouped-by-journey-activity", Rollup(measure, EMAIL))
            for what, measure in JOURNEY_EMAIL_MEASURES.items()
        ),
    ]
)

CATALOG: Mapping[str, Mapping[str, Kpi]] = {
    APPLICATION: APPLICATION_KPIS,
    CAMPAIGN: CAMPAIGN_KPIS,
    JOURNEY: JOURNEY_KPIS,
}


def kpi_of(scope: str, name: str) -> Kpi:
    kpi = CATALOG[scope].get(name)
    if kpi is None:
        noun = {APPLICATION: "an application", CAMPAIGN: "a campaign", JOURNEY: "a journey"}[scope]
        raise KpiUnknown(
            f"'{name[:100]}' is not a KPI of {noun}. The names are listed in Amazon Pinpoint's developer "
            f"guide (analytics-standard-metrics), e.g. {', '.join(sorted(CATALOG[scope])[:3])}."
        )
    return kpi


# --- the date range ------------------------------------------------------------------------------


def kpi_range(start: datetime | None, end: datetime | None, *, now: datetime) -> tuple[datetime, datetime]:
    """The (start, end) a query covers: by default the preceding 31 calendar days (today included);
    with one bound, 31 days from or up to it (an end no later than now). KpiRangeInvalid when start
    is after end, the range spans more than 31 calendar days, or start is 90 or more days ago."""
    now = now.astimezone(UTC)
    if start is None:
        end = now if end is None else end
        start = day_start(end.astimezone(UTC).date() - timedelta(days=MAX_RANGE_DAYS - 1))
    elif end is None:
        last_moment = day_start(start.astimezone(UTC).date() + timedelta(days=MAX_RANGE_DAYS)) - timedelta(
            microseconds=1
        )
        end = max(start, min(now, last_moment))
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start > end:
        raise KpiRangeInvalid("start-time must not be after end-time.")
    if (end.date() - start.date()).days + 1 > MAX_RANGE_DAYS:
        raise KpiRangeInvalid(f"The date range must span {MAX_RANGE_DAYS} calendar days or fewer.")
    if (now.date() - start.date()).days >= MAX_AGE_DAYS:
        raise KpiRangeInvalid(f"start-time must be fewer than {MAX_AGE_DAYS} days ago.")
    return start, end


# --- the rows ------------------------------------------------------------------------------------


def _row(kpi: Kpi, value: float, group: str | None = None) -> dict[str, Any]:
    grouped = [] if kpi.grouping is None else [{"Key": kpi.grouping.key, "Type": "String", "Value": group}]
    return {"GroupedBys": grouped, "Values": [{"Key": kpi.key, "Type": "Double", "Value": str(float(value))}]}


def _label(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _rollup_values(
    project_id: str, kpi: Kpi, computation: Rollup, start: date, end: date, scope: Mapping[str, str]
) -> dict[str, float | None]:
    group = [kpi.grouping.column] if kpi.grouping else []
    sums: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rollup_sum(
        project_id,
        start,
        end,
        metrics=sorted(computation.measure.metrics),
        group_by=[*group, "metric"],
        **{**computation.filters, **scope},
    ):
        sums[_label(row[group[0]]) if group else ""][row["metric"]] = row["value"]
    return {label: computation.measure.compute(metrics) for label, metrics in sums.items()}


def _recipient_values(
    project_id: str, kpi: Kpi, computation: Recipients, start: date, end: date, scope: Mapping[str, str]
) -> dict[str, float | None]:
    counts = recipients(
        project_id,
        start,
        end,
        event_type=computation.event_type,
        source=computation.source,
        scope=scope,
        group_by=kpi.grouping.column if kpi.grouping else "",
    )
    return {group: count or None for group, count in counts.items()}


def _sms_values(project_id: str, kpi: Kpi, computation: SmsCountry, start: date, end: date) -> dict[str, float | None]:
    by_country = sms_by_country(project_id, start, end)
    if kpi.grouping is None:
        return {"": sum(f[computation.figure] for f in by_country.values()) if by_country else None}
    return {country: f[computation.figure] for country, f in by_country.items()}


def kpi_rows(
    project_id: str, scope: str, name: str, start: datetime, end: datetime, *, resource_id: str = ""
) -> list[dict[str, Any]]:
    """KpiResult.Rows of KPI `name` for the project (scope APPLICATION) or one of its campaigns or
    journeys (`resource_id`), over the UTC days of [start, end]. KpiUnknown for a name not of the scope."""
    kpi = kpi_of(scope, name)
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    where = {CAMPAIGN: {"campaign_id": resource_id}, JOURNEY: {"journey_id": resource_id}}.get(scope, {})
    computation = kpi.computation
    if isinstance(computation, Rollup):
        values = _rollup_values(project_id, kpi, computation, first, last, where)
    elif isinstance(computation, Recipients):
        values = _recipient_values(project_id, kpi, computation, first, last, where)
    elif isinstance(computation, SmsCountry):
        values = _sms_values(project_id, kpi, computation, first, last)
    else:
        values = {}
    return [
        _row(kpi, value, group if kpi.grouping else None)
        for group, value in sorted(values.items())
        if value is not None and (kpi.grouping is None or group != "")
    ]
