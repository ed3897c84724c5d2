"""Message figures of a campaign or a journey — attempted, delivered, unique opens and clicks,
opt-outs — read from the analytics rollup (audience.analytics.rollups), for the campaign and journey
pages and their CSV downloads.

The rollup is kept current in the transaction that stores each event, so these are a few grouped
sums over daily rows, whatever the audience size. The formulas are the KPI API's (pinpoint.md §8.4):
attempted = accepted + failed, delivered = accepted - bounced after acceptance (never below 0),
delivery rate = delivered / attempted, open rate = unique opens / delivered, click rate = unique
clicks / delivered. Unique opens are messages opened at least once (a message's first `_email.open`)
plus push notifications opened; unique clicks are messages clicked at least once. Opt-outs are
`_email.unsubscribe` and `_SMS.OPTOUT` events. Days are UTC days (the rollup's).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from django.http import HttpResponse

from audience.analytics.rollups import (
    BOUNCED_AFTER,
    CLICK_UNIQUE,
    OPEN_UNIQUE,
    OPT_OUTS,
    PUSH_OPENS,
    SEND_ACCEPTED,
    SEND_FAILED,
    delivered,
    rollup_sum,
)
from engage.csv_export import csv_response

# rollup metric → the Figures field it adds to
FIELD_OF: Mapping[str, str] = {
    SEND_ACCEPTED: "accepted",
    SEND_FAILED: "failed",
    BOUNCED_AFTER: "bounced",
    OPEN_UNIQUE: "opens",
    CLICK_UNIQUE: "clicks",
    **dict.fromkeys(PUSH_OPENS, "opens"),
    **dict.fromkeys(OPT_OUTS, "opt_outs"),
}
ROLLUP_METRICS = tuple(FIELD_OF)
# The daily series of the pages: (key, label) in the order of the chart's legend and the table.
SERIES = (
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("opens", "Opened"),
    ("clicks", "Clicked"),
    ("opt_outs", "Opted out"),
)
MAX_SERIES_DAYS = 400  # a longer life shows its last 400 days (the CSV too)
# A campaign's or journey's rows are read whatever their days (its id narrows them, through the
# rollup's campaign and journey indexes): events carry the client's timestamps.
EARLIEST, FAR_FUTURE = date(1970, 1, 1), date(9999, 12, 31)


def percent(part: int, whole: int) -> float | None:
    """part / whole in percent, one decimal; None when there is no whole."""
    return round(100 * part / whole, 1) if whole else None


@dataclass
class Figures:
    accepted: int = 0
    failed: int = 0
    bounced: int = 0
    opens: int = 0
    clicks: int = 0
    opt_outs: int = 0

    def add(self, metric: str, value: int) -> None:
        name = FIELD_OF[metric]
        setattr(self, name, getattr(self, name) + int(value))

    def __iadd__(self, other: "Figures") -> "Figures":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    @property
    def sent(self) -> int:
        """Messages a channel accepted."""
        return self.accepted

    @property
    def attempted(self) -> int:
        return self.accepted + self.failed

    @property
    def delivered(self) -> int:
        return delivered(self.accepted, self.bounced)

    @property
    def delivery_rate(self) -> float | None:
        return percent(self.delivered, self.attempted)

    @property
    def open_rate(self) -> float | None:
        return percent(self.opens, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return percent(self.clicks, self.delivered)


def figures_by(project_id: str, column: str, **filters: str | Sequence[str]) -> dict[str, Figures]:
    """Figures per value of a rollup column (treatment_id, campaign_activity_id, journey_activity_id)
    of the rows matching `filters` (campaign_id=..., journey_id=...), all days: one query."""
    found: dict[str, Figures] = defaultdict(Figures)
    for row in rollup_sum(
        project_id, EARLIEST, FAR_FUTURE, metrics=ROLLUP_METRICS, group_by=(column, "metric"), **filters
    ):
        found[row[column]].add(row["metric"], row["value"])
    return dict(found)


def figures_daily(project_id: str, **filters: str | Sequence[str]) -> dict[date, Figures]:
    """Figures per UTC day of the rows matching `filters`: one query."""
    found: dict[date, Figures] = defaultdict(Figures)
    for row in rollup_sum(
        project_id, EARLIEST, FAR_FUTURE, metrics=ROLLUP_METRICS, group_by=("day", "metric"), **filters
    ):
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(str(row["day"])[:10])
        found[day].add(row["metric"], row["value"])
    return dict(found)


@dataclass
class Series:
    """Daily values of the series `keys` from the first day with data to the last (at most
    MAX_SERIES_DAYS, the latest), gaps filled with 0."""

    keys: tuple[tuple[str, str], ...]
    days: list[date]
    values: dict[str, list[int]]
    clipped: bool = False  # earlier days with data are left out

    @property
    def labels(self) -> list[str]:
        return [label for _key, label in self.keys]

    def rows(self) -> list[tuple[date, list[int]]]:
        return [(day, [self.values[k][i] for k, _label in self.keys]) for i, day in enumerate(self.days)]

    def chart_data(self) -> dict[str, Any]:
        return {
            "labels": [day.isoformat() for day in self.days],
            "datasets": [{"key": k, "label": label, "data": self.values[k]} for k, label in self.keys],
        }


def series_of(per_day: Mapping[date, Mapping[str, int]], keys: Iterable[tuple[str, str]]) -> Series:
    """A Series from {day: {key: value}}."""
    keys = tuple(keys)
    if not per_day:
        return Series(keys, [], {k: [] for k, _label in keys})
    earliest, last = min(per_day), max(per_day)
    first = max(earliest, last - timedelta(days=MAX_SERIES_DAYS - 1))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    values = {k: [int((per_day.get(day) or {}).get(k, 0)) for day in days] for k, _label in keys}
    return Series(keys, days, values, clipped=first > earliest)


def message_series(daily: Mapping[date, Figures]) -> dict[date, dict[str, int]]:
    """{day: {series key: value}} of daily Figures (SERIES's keys)."""
    return {day: {k: getattr(f, k) for k, _label in SERIES} for day, f in daily.items()}


def series_csv(filename: str, series: Series) -> HttpResponse:
    """A daily series as CSV: one row per UTC day, one column per figure (its key)."""
    return csv_response(
        filename,
        ["day", *(key for key, _label in series.keys)],
        ([day.isoformat(), *values] for day, values in series.rows()),
    )
