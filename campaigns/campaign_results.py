"""What the campaign pages show about a campaign's outcome and timing: per-treatment results, the
daily series behind the chart, and the month calendar.

Read-only queries over rows other parts write: Delivery rows (campaign_id, treatment_id, status,
sent_at) from the campaign engine and the outbox, audience Event rows (`_email.*` with the
campaign_id and treatment_id attributes) from tracking, CampaignRun rows from the scheduler. One
GROUP BY per question; nothing here loops over recipients.
"""

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from django.db.models import Count, Q
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from django.utils import timezone as django_timezone

from audience.models import Event
from campaigns.campaigns import treatments_of
from campaigns.models import (
    Campaign,
    CampaignRun,
    CampaignState,
    Delivery,
    DeliveryStatus,
    Frequency,
)
from campaigns.schedule import EARLIEST_OFFSET, ScheduleInvalid, first_start, next_start, offset_of
from projects.models import Project

METRICS = ("sent", "delivered", "opened", "clicked", "opted_out")
METRIC_LABELS = {
    "sent": "Sent",
    "delivered": "Delivered",
    "opened": "Opened",
    "clicked": "Clicked",
    "opted_out": "Opted out",
}
# Engagement events of a campaign message, as tracking records them (per endpoint).
EVENT_METRICS = {
    "_email.delivered": "delivered",
    "_email.open": "opened",
    "_email.click": "clicked",
    "_email.unsubscribe": "opted_out",
}
FAILED = (DeliveryStatus.FAILED_PERMANENT, DeliveryStatus.UNKNOWN)
PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
ACTIVE_STATES = (CampaignState.SCHEDULED, CampaignState.EXECUTING, CampaignState.PENDING_NEXT_RUN)
TRIGGERED = (Frequency.EVENT, Frequency.IN_APP_EVENT)
MAX_STARTS_PER_CAMPAIGN = 800  # an hourly campaign has at most 744 starts in a month


def letter(treatment_id: str) -> str:
    """Treatments "0".."4" are A..E on the pages, as in Pinpoint's console."""
    return "ABCDE"[int(treatment_id)] if treatment_id in ("0", "1", "2", "3", "4") else treatment_id


def treatments(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The treatments of a definition, the default first: id, name, share of the segment, and the
    effective treatment (campaigns.campaigns.treatments_of: its own members, else the campaign's)."""
    return [
        {"id": t["Id"], "name": t.get("TreatmentName") or "", "percent": t["SizePercent"], "definition": t}
        for t in treatments_of(definition)
    ]


@dataclass
class TreatmentResult:
    treatment_id: str
    name: str = ""
    percent: int | None = None
    sent: int = 0
    failed: int = 0
    pending: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    opted_out: int = 0

    @property
    def letter(self) -> str:
        return letter(self.treatment_id)

    def rate(self, count: int) -> float | None:
        return round(100 * count / self.sent, 1) if self.sent else None

    @property
    def open_rate(self) -> float | None:
        return self.rate(self.opened)

    @property
    def click_rate(self) -> float | None:
        return self.rate(self.clicked)


def _events(campaign: Campaign):
    # Tracking stores engagement per endpoint; the campaign's attributes tell whose message it was.
    return Event.objects.filter(
        project_id=campaign.project_id,
        event_type__in=EVENT_METRICS,
        timestamp__gte=campaign.creation_date,
        attributes__campaign_id=campaign.pk,
    )


def treatment_results(campaign: Campaign) -> list[TreatmentResult]:
    """Per treatment: deliveries by outcome, and endpoints that delivered/opened/clicked/opted out."""
    results = {t["id"]: TreatmentResult(t["id"], t["name"], t["percent"]) for t in treatments(campaign.definition)}

    def result(treatment_id: str) -> TreatmentResult:
        return results.setdefault(treatment_id, TreatmentResult(treatment_id))

    deliveries = (
        Delivery.objects.filter(project_id=campaign.project_id, campaign_id=campaign.pk)
        .values("treatment_id")
        .annotate(
            sent=Count("pk", filter=Q(status=DeliveryStatus.SENT)),
            failed=Count("pk", filter=Q(status__in=FAILED)),
            pending=Count("pk", filter=Q(status__in=PENDING)),
        )
    )
    for row in deliveries:
        target = result(row["treatment_id"] or "0")
        target.sent, target.failed, target.pending = row["sent"], row["failed"], row["pending"]
    engaged = (
        _events(campaign)
        .annotate(treatment=KT("attributes__treatment_id"))
        .values("event_type", "treatment")
        .annotate(endpoints=Count("endpoint_key", distinct=True))
    )
    for row in engaged:
        setattr(result(row["treatment"] or "0"), EVENT_METRICS[row["event_type"]], row["endpoints"])
    return sorted(results.values(), key=lambda r: (len(r.treatment_id), r.treatment_id))


@dataclass
class Series:
    """Daily counts (in the site's time zone) from the first day with data to the last."""

    days: list[date] = field(default_factory=list)
    values: dict[str, list[int]] = field(default_factory=dict)

    def rows(self) -> list[tuple[date, list[int]]]:
        return [(day, [self.values[m][i] for m in METRICS]) for i, day in enumerate(self.days)]

    def chart_data(self) -> dict[str, Any]:
        return {
            "labels": [day.isoformat() for day in self.days],
            "datasets": [{"key": m, "label": METRIC_LABELS[m], "data": self.values[m]} for m in METRICS],
        }


def daily_series(campaign: Campaign) -> Series:
    """Messages sent a day (Delivery.sent_at) and endpoints with each engagement event a day."""
    counts: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    sent = (
        Delivery.objects.filter(
            project_id=campaign.project_id, campaign_id=campaign.pk, status=DeliveryStatus.SENT, sent_at__isnull=False
        )
        .annotate(day=TruncDate("sent_at"))
        .values("day")
        .annotate(n=Count("pk"))
    )
    for row in sent:
        counts[row["day"]]["sent"] = row["n"]
    engaged = (
        _events(campaign)
        .annotate(day=TruncDate("timestamp"))
        .values("day", "event_type")
        .annotate(n=Count("endpoint_key", distinct=True))
    )
    for row in engaged:
        counts[row["day"]][EVENT_METRICS[row["event_type"]]] = row["n"]
    if not counts:
        return Series(values={m: [] for m in METRICS})
    first, last = min(counts), max(counts)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return Series(days=days, values={m: [counts[d][m] if d in counts else 0 for d in days] for m in METRICS})


# --- calendar ------------------------------------------------------------------------------------


@dataclass
class CalendarEntry:
    campaign: Campaign
    at: datetime
    past: bool
    count: int = 1
    state: str = ""


@dataclass
class Month:
    year: int
    month: int
    weeks: list[list[tuple[date, list[CalendarEntry]]]]
    triggered: list[Campaign]

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return (self.first + timedelta(days=32)).replace(day=1)


def scheduled_start(campaign: Campaign, schedule: Mapping[str, Any]) -> datetime | None:
    """The start of the campaign's next run (next_run_at, undoing the local-time head start)."""
    if campaign.next_run_at is None:
        return None
    if not schedule.get("IsLocalTime"):
        return campaign.next_run_at
    wall = campaign.next_run_at.astimezone(timezone(EARLIEST_OFFSET)).replace(tzinfo=None)
    return wall.replace(tzinfo=offset_of(schedule.get("Timezone") or "UTC"))


def upcoming_starts(campaign: Campaign, *, begin: datetime, end: datetime) -> list[datetime]:
    """Starts of the campaign's coming runs within [begin, end): its next run, then its recurrences."""
    if campaign.state not in ACTIVE_STATES or campaign.is_paused or campaign.frequency in TRIGGERED:
        return []
    schedule = campaign.definition.get("Schedule") or {}
    try:
        start = scheduled_start(campaign, schedule)
        if start is None:
            return []
        first = first_start(schedule, now=campaign.creation_date)
        if start < begin:
            start = next_start(schedule, after=begin - timedelta(microseconds=1), first=first)
        starts = []
        while start is not None and start < end and len(starts) < MAX_STARTS_PER_CAMPAIGN:
            starts.append(start)
            start = next_start(schedule, after=start, first=first)
    except ScheduleInvalid:
        return []
    return starts


def _group(entries: Iterable[CalendarEntry]) -> dict[date, list[CalendarEntry]]:
    """Entries per local day, one per campaign and kind (an hourly campaign is one entry, count 24)."""
    by_day: dict[date, dict[tuple[str, bool], CalendarEntry]] = defaultdict(dict)
    for entry in sorted(entries, key=lambda e: e.at):
        day = django_timezone.localtime(entry.at).date()
        key = (entry.campaign.pk, entry.past)
        if key in by_day[day]:
            by_day[day][key].count += 1
        else:
            by_day[day][key] = entry
    return {day: list(entries.values()) for day, entries in by_day.items()}


def calendar_month(project: Project, year: int, month: int, *, frequencies: Iterable[str] = ()) -> Month:
    """Past runs (CampaignRun) and coming starts of the project's campaigns in a month (of the
    given frequencies only, when some are given)."""
    zone = django_timezone.get_current_timezone()
    begin = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    frequencies = list(frequencies)
    runs = CampaignRun.objects.filter(campaign__project=project, scheduled_start__gte=begin, scheduled_start__lt=end)
    campaigns = project.campaigns.filter(state__in=ACTIVE_STATES)
    if frequencies:
        runs = runs.filter(campaign__frequency__in=frequencies)
        campaigns = campaigns.filter(frequency__in=frequencies)
    runs = runs.select_related("campaign").order_by("scheduled_start")
    entries = [CalendarEntry(run.campaign, run.scheduled_start, past=True, state=run.state) for run in runs]
    made = {(run.campaign_id, run.scheduled_start.astimezone(UTC)) for run in runs}
    campaigns = list(campaigns.order_by("name", "id"))
    for campaign in campaigns:
        entries += [
            CalendarEntry(campaign, start, past=False)
            for start in upcoming_starts(campaign, begin=begin, end=end)
            if (campaign.pk, start.astimezone(UTC)) not in made
        ]
    by_day = _group(entries)
    weeks = [
        [(day, by_day.get(day, []) if day.month == month else []) for day in week]
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    ]
    triggered = [c for c in campaigns if c.frequency in TRIGGERED and not c.is_paused]
    return Month(year, month, weeks, triggered)
