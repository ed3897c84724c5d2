"""The project dashboard's numbers for a range of UTC days: active, new endpoints and sessions; messages
sent, delivered, opened, clicked and opted out — in total, per day, per channel and per source.

Everything but new endpoints is read from the rollup (audience.analytics.rollups): one `rollup_sum`
grouped by day, source, channel and metric, plus `active_endpoints` for the distinct endpoints of
the whole range. New endpoints are counted from Endpoint.creation_date. So the cost depends on the
number of days, not of events.

Counting (the same words as README "Dashboard"):
- sent = messages a provider accepted (`send.accepted`); failed = `send.failed`;
- attempted = sent + failed; delivered = sent - bounced after sending (never below 0);
- delivery rate = delivered / attempted;
- email open / click rate = first opens / first clicks of a message ÷ delivered email;
- push open rate = opened notifications ÷ delivered push messages (every push platform);
- opt-outs = `_email.unsubscribe` + `_SMS.OPTOUT`.
A rate whose denominator is 0 is None (shown as "—"), never 0 %.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncDate

from audience.analytics.rollups import (
    ACTIVE,
    BOUNCED_AFTER,
    CHANNEL_GROUPS,
    CLICK_UNIQUE,
    OPEN_UNIQUE,
    OPT_OUTS,
    PUSH_OPENS,
    SEND_ACCEPTED,
    SEND_FAILED,
    active_endpoints,
    delivered,
    rollup_sum,
)
from audience.models import Endpoint, MetricSource
from engage.db import read_alias

DEFAULT_DAYS = 30
MAX_DAYS = 92
SESSION_START = "_session.start"
METRICS = (
    ACTIVE,
    SESSION_START,
    SEND_ACCEPTED,
    SEND_FAILED,
    BOUNCED_AFTER,
    OPEN_UNIQUE,
    CLICK_UNIQUE,
    *PUSH_OPENS,
    *OPT_OUTS,
)
GROUP_OF = {channel: group for group, channels in CHANNEL_GROUPS.items() for channel in channels}
CHANNEL_LABELS = {
    "EMAIL": "Email",
    "SMS": "SMS",
    "PUSH": "Push",
    "VOICE": "Voice",
    "CUSTOM": "Custom",
    "IN_APP": "In-app",
    "OTHER": "Other",
}
SOURCE_LABELS = {
    MetricSource.CAMPAIGN: "Campaigns",
    MetricSource.JOURNEY: "Journeys",
    MetricSource.TRANSACTIONAL: "Transactional",
    MetricSource.APP: "App (no campaign or journey)",
}
MESSAGE_SOURCES = (MetricSource.CAMPAIGN, MetricSource.JOURNEY, MetricSource.TRANSACTIONAL)


def default_range(today: date) -> tuple[date, date]:
    """The last DEFAULT_DAYS days, today included."""
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def range_problem(start: date, end: date) -> str:
    """Why [start, end] is not a range the dashboard shows, or ""."""
    if end < start:
        return "The end date is before the start date."
    days = (end - start).days + 1
    if days > MAX_DAYS:
        return f"Choose at most {MAX_DAYS} days; this range has {days}."
    return ""


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole as a percentage with one decimal, None when whole is 0."""
    if not whole:
        return None
    return (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class Messages:
    """Message counters of one slice (a day, a channel group, a source or the whole range)."""

    sent: int = 0
    failed: int = 0
    bounced: int = 0
    email_sent: int = 0
    email_bounced: int = 0
    push_sent: int = 0
    push_bounced: int = 0
    email_opens: int = 0
    email_clicks: int = 0
    push_opens: int = 0
    opt_outs: int = 0

    def add(self, metric: str, group: str, value: int) -> None:
        if metric == SEND_ACCEPTED:
            self.sent += value
            if group == "EMAIL":
                self.email_sent += value
            elif group == "PUSH":
                self.push_sent += value
        elif metric == SEND_FAILED:
            self.failed += value
        elif metric == BOUNCED_AFTER:
            self.bounced += value
            if group == "EMAIL":
                self.email_bounced += value
            elif group == "PUSH":
                self.push_bounced += value
        elif metric == OPEN_UNIQUE and group == "EMAIL":
            self.email_opens += value
        elif metric == CLICK_UNIQUE and group == "EMAIL":
            self.email_clicks += value
        elif metric in PUSH_OPENS:
            self.push_opens += value
        elif metric in OPT_OUTS:
            self.opt_outs += value

    @property
    def attempted(self) -> int:
        return self.sent + self.failed

    @property
    def delivered(self) -> int:
        return delivered(self.sent, self.bounced)

    @property
    def email_delivered(self) -> int:
        return delivered(self.email_sent, self.email_bounced)

    @property
    def push_delivered(self) -> int:
        return delivered(self.push_sent, self.push_bounced)

    @property
    def delivery_rate(self) -> Decimal | None:
        return rate(self.delivered, self.attempted)

    @property
    def email_open_rate(self) -> Decimal | None:
        return rate(self.email_opens, self.email_delivered)

    @property
    def email_click_rate(self) -> Decimal | None:
        return rate(self.email_clicks, self.email_delivered)

    @property
    def push_open_rate(self) -> Decimal | None:
        return rate(self.push_opens, self.push_delivered)

    @property
    def is_empty(self) -> bool:
        return not (self.attempted or self.bounced or self.email_opens or self.push_opens or self.opt_outs)


@dataclass
class Day:
    day: date
    active: int = 0
    new_endpoints: int = 0
    sessions: int = 0
    messages: Messages = field(default_factory=Messages)


@dataclass
class Dashboard:
    """A project's numbers for [start, end] (UTC days, inclusive)."""

    start: date
    end: date
    active_endpoints: int  # distinct endpoints active on any day of the range
    days: list[Day]
    totals: Messages
    channels: dict[str, Messages]  # channel group → counters, in CHANNEL_LABELS order, only those with data
    sources: dict[str, Messages]  # source → counters, only those with data

    @property
    def day_count(self) -> int:
        return len(self.days)

    @property
    def new_endpoints(self) -> int:
        return sum(d.new_endpoints for d in self.days)

    @property
    def sessions(self) -> int:
        return sum(d.sessions for d in self.days)

    @property
    def average_daily_active(self) -> Decimal:
        total = sum(d.active for d in self.days)
        return (Decimal(total) / Decimal(len(self.days))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _new_endpoints(project_id: str, start: date, end: date) -> dict[date, int]:
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    rows = (
        Endpoint.objects.using(read_alias())
        .filter(project_id=project_id, creation_date__gte=since, creation_date__lt=until)
        .annotate(day=TruncDate("creation_date", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("*"))
        .order_by()
    )
    return {row["day"]: row["n"] for row in rows}


def dashboard_data(project_id: str, start: date, end: date) -> Dashboard:
    """The dashboard's numbers for the project and [start, end]; raises ValueError for a range
    `range_problem` refuses. Three queries, whatever the number of events."""
    problem = range_problem(start, end)
    if problem:
        raise ValueError(problem)
    days = {start + timedelta(days=i): Day(start + timedelta(days=i)) for i in range((end - start).days + 1)}
    totals = Messages()
    channels: dict[str, Messages] = {}
    sources: dict[str, Messages] = {}
    rows = rollup_sum(project_id, start, end, metrics=METRICS, group_by=("day", "source", "channel", "metric"))
    for row in rows:
        day, metric, value = days.get(row["day"]), row["metric"], row["value"]
        if day is None:
            continue
        if metric == ACTIVE:
            day.active += value
            continue
        if metric == SESSION_START:
            day.sessions += value
            continue
        group = GROUP_OF.get(row["channel"], "OTHER")
        day.messages.add(metric, group, value)
        totals.add(metric, group, value)
        channels.setdefault(group, Messages()).add(metric, group, value)
        sources.setdefault(row["source"], Messages()).add(metric, group, value)
    for day, count in _new_endpoints(project_id, start, end).items():
        if day in days:
            days[day].new_endpoints = count
    return Dashboard(
        start=start,
        end=end,
        active_endpoints=active_endpoints(project_id, start, end),
        days=list(days.values()),
        totals=totals,
        channels={g: channels[g] for g in CHANNEL_LABELS if g in channels and not channels[g].is_empty},
        sources={
            s: sources[s]
            for s in (*MESSAGE_SOURCES, MetricSource.APP)
            if s in sources and (s in MESSAGE_SOURCES or not sources[s].is_empty)
        },
    )


@dataclass(frozen=True)
class Column:
    label: str
    help: str = ""
    percent: bool = False
    day: bool = False


@dataclass
class Table:
    """One table of the page, and of its CSV download: a header cell per column, rows of cells (the
    first cell of a row is its header). A rate is a Decimal percentage or None."""

    name: str
    caption: str
    columns: Sequence[Column]
    rows: list[list[Any]]

    @property
    def header(self) -> list[str]:
        return [f"{c.label} (%)" if c.percent else c.label for c in self.columns]

    @property
    def cells(self) -> list[list[tuple[Any, Column]]]:
        """Each row's cells with their column, for the page."""
        return [list(zip(row, self.columns, strict=True)) for row in self.rows]

    @property
    def explained(self) -> list[Column]:
        return [c for c in self.columns if c.help]


MESSAGE_COLUMNS = (
    Column("Attempted", "Sent + failed."),
    Column("Sent", "Accepted by the email server, SMS provider or push service."),
    Column("Failed", "Could not be sent (refused, unreachable address, no channel)."),
    Column("Bounced", "Accepted, then reported as undeliverable by the provider."),
    Column("Delivered", "Sent minus bounced."),
    Column("Delivery rate", "Delivered ÷ attempted.", percent=True),
    Column("Email opens", "Emails opened at least once (first open of each message)."),
    Column("Email open rate", "Email opens ÷ delivered emails.", percent=True),
    Column("Email clicks", "Emails with at least one tracked link clicked."),
    Column("Email click rate", "Email clicks ÷ delivered emails.", percent=True),
    Column("Push opens", "Push notifications opened (the app reports opened_notification)."),
    Column("Push open rate", "Push opens ÷ delivered push messages.", percent=True),
    Column("Opt-outs", "Unsubscribe links followed and STOP replies to SMS."),
)


def _message_cells(m: Messages) -> list[Any]:
    return [
        m.attempted,
        m.sent,
        m.failed,
        m.bounced,
        m.delivered,
        m.delivery_rate,
        m.email_opens,
        m.email_open_rate,
        m.email_clicks,
        m.email_click_rate,
        m.push_opens,
        m.push_open_rate,
        m.opt_outs,
    ]


def summary_table(data: Dashboard) -> Table:
    t = data.totals
    rows: list[list[Any]] = [
        ["Active endpoints", data.active_endpoints, "Endpoints with at least one event from your app in the range."],
        ["Average daily active endpoints", data.average_daily_active, "Active endpoints per day, averaged."],
        ["New endpoints", data.new_endpoints, "Endpoints created in the range."],
        ["Sessions", data.sessions, "Sessions started (_session.start events)."],
        ["Messages attempted", t.attempted, "Sent + failed."],
        ["Messages sent", t.sent, "Accepted by the email server, SMS provider or push service."],
        ["Messages delivered", t.delivered, "Sent, minus those the provider later reported undeliverable."],
        ["Delivery rate (%)", t.delivery_rate, "Delivered ÷ attempted."],
        ["Email open rate (%)", t.email_open_rate, "Emails opened at least once ÷ delivered emails."],
        ["Email click rate (%)", t.email_click_rate, "Emails with a link clicked ÷ delivered emails."],
        ["Push open rate (%)", t.push_open_rate, "Push notifications opened ÷ delivered push messages."],
        ["Opt-outs", t.opt_outs, "Email unsubscribes and SMS STOP replies."],
    ]
    return Table("summary", "Summary", (Column("Measure"), Column("Value"), Column("How it is counted")), rows)


def daily_table(data: Dashboard) -> Table:
    columns = (
        Column("Day (UTC)", day=True),
        Column("Active endpoints", "Endpoints with an event from your app that day."),
        Column("New endpoints", "Endpoints created that day."),
        Column("Sessions", "Sessions started that day."),
        Column("Sent", "Messages accepted by the provider."),
        Column("Delivered", "Sent minus bounced (a bounce counts on the day it is reported)."),
        Column("Failed", "Messages that could not be sent."),
        Column("Email opens", "Emails opened for the first time that day."),
        Column("Email clicks", "Emails clicked for the first time that day."),
        Column("Push opens", "Push notifications opened."),
        Column("Opt-outs", "Unsubscribes and STOP replies."),
    )
    rows = [
        [
            d.day,
            d.active,
            d.new_endpoints,
            d.sessions,
            d.messages.sent,
            d.messages.delivered,
            d.messages.failed,
            d.messages.email_opens,
            d.messages.email_clicks,
            d.messages.push_opens,
            d.messages.opt_outs,
        ]
        for d in data.days
    ]
    return Table("daily", "Per day", columns, rows)


def _breakdown(name: str, caption: str, first: str, slices: Iterable[tuple[str, Messages]]) -> Table:
    return Table(name, caption, (Column(first), *MESSAGE_COLUMNS), [[label, *_message_cells(m)] for label, m in slices])


def channel_table(data: Dashboard) -> Table:
    slices = [(CHANNEL_LABELS[g], m) for g, m in data.channels.items()]
    return _breakdown("channels", "Messages per channel", "Channel", slices)


def source_table(data: Dashboard) -> Table:
    slices = [(SOURCE_LABELS.get(s, s), m) for s, m in data.sources.items()]
    return _breakdown("sources", "Messages per source", "Source", slices)


TABLES = {"summary": summary_table, "daily": daily_table, "channels": channel_table, "sources": source_table}


def csv_rows(table: Table) -> list[list[Any]]:
    """The table's rows as CSV cells: days as ISO dates, rates as numbers, no rate as empty."""
    return [
        [
            c.isoformat() if isinstance(c, date) else float(c) if isinstance(c, Decimal) else "" if c is None else c
            for c in row
        ]
        for row in table.rows
    ]
