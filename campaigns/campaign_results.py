"""What the campaign pages show about a campaign's outcome and timing: per-treatment results with the
A/B test's verdict, per-run results, the daily series behind the chart, and the month calendar.

Message figures come from the analytics rollup (campaigns.message_metrics, filtered by the campaign's
id and grouped by treatment, activity or day); what only the outbox knows — messages still queued or
being sent — from Delivery rows; runs from CampaignRun. One grouped query per question; nothing here
loops over recipients.
"""

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from django.db.models import Count
from django.utils import timezone as django_timezone

from campaigns.campaigns import treatments_of
from campaigns.message_metrics import (
    SERIES,
    Figures,
    Series,
    figures_by,
    figures_daily,
    message_series,
    series_of,
)
from campaigns.models import (
    Campaign,
    CampaignRun,
    CampaignState,
    Delivery,
    DeliveryStatus,
    Frequency,
)
from campaigns.schedule import EARLIEST_OFFSET, ScheduleInvalid, first_start, next_start, offset_of
from campaigns.significance import ALPHA, MIN_SAMPLE, Arm, Comparison, Verdict, ab_winner
from projects.models import Project

PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
ACTIVE_STATES = (CampaignState.SCHEDULED, CampaignState.EXECUTING, CampaignState.PENDING_NEXT_RUN)
TRIGGERED = (Frequency.EVENT, Frequency.IN_APP_EVENT)
MAX_STARTS_PER_CAMPAIGN = 800  # an hourly campaign has at most 744 starts in a month
# The rates an A/B test can be decided on (the page's ?rate=): label and the Figures field counted.
RATES = {"open": ("open rate", "opens"), "click": ("click rate", "clicks")}


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
    figures: Figures = field(default_factory=Figures)
    pending: int = 0
    comparison: Comparison | None = None  # the chosen rate against A's (not for A)
    winner: bool = False

    @property
    def letter(self) -> str:
        return letter(self.treatment_id)


def treatment_results(campaign: Campaign) -> list[TreatmentResult]:
    """Per treatment (the definition's, then any others that sent): message figures from the
    rollup and the messages still queued or being sent. Two queries."""
    results = {t["id"]: TreatmentResult(t["id"], t["name"], t["percent"]) for t in treatments(campaign.definition)}
    found = figures_by(campaign.project_id, "treatment_id", campaign_id=campaign.pk)
    for treatment_id, figures in found.items():
        results.setdefault(treatment_id or "0", TreatmentResult(treatment_id or "0")).figures += figures
    pending = (
        Delivery.objects.filter(project_id=campaign.project_id, campaign_id=campaign.pk, status__in=PENDING)
        .values_list("treatment_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for treatment_id, n in pending:
        results.setdefault(treatment_id or "0", TreatmentResult(treatment_id or "0")).pending += n
    return sorted(results.values(), key=lambda r: (len(r.treatment_id), r.treatment_id))


@dataclass
class ABTest:
    """The A/B test of a campaign's treatments on one rate: the verdict and what the page says."""

    rate: str
    rate_label: str
    verdict: Verdict
    text: str


def _pct(figures: Figures, name: str) -> str:
    value = figures.open_rate if name == "opens" else figures.click_rate
    return "n/a" if value is None else f"{value}%"


def ab_test(results: list[TreatmentResult], rate: str = "open") -> ABTest:
    """Compare each treatment's `rate` ("open" or "click", of delivered messages) with treatment A's
    (two-proportion z-test, campaigns.significance); marks the rows' comparison and the winner."""
    if rate not in RATES:
        rate = "open"
    label, name = RATES[rate]
    by_id = {r.treatment_id: r for r in results}
    control = by_id.get("0") or TreatmentResult("0")
    ordered = [control, *(r for r in results if r.treatment_id != "0")]
    arms = [
        Arm(r.treatment_id, min(getattr(r.figures, name), r.figures.delivered), r.figures.delivered) for r in ordered
    ]
    verdict = ab_winner(arms)
    for r in results:
        r.comparison = verdict.comparisons.get(r.treatment_id)
        r.winner = r.treatment_id == verdict.winner
    if verdict.outcome == "winner":
        win = by_id[verdict.winner]
        if win is control:
            text = (
                f"Treatment A (the default) wins on {label}: {_pct(control.figures, name)}, and every other "
                f"treatment's {label} is significantly lower (p < {ALPHA})."
            )
        else:
            p = win.comparison.p_text if win.comparison else "1.000"
            text = (
                f"Treatment {win.letter} wins on {label}: {_pct(win.figures, name)} against "
                f"{_pct(control.figures, name)} for treatment A, a difference that is statistically "
                f"significant (p {p if p.startswith('<') else f'= {p}'}, below {ALPHA})."
            )
    elif verdict.outcome == "too_small":
        counts = ", ".join(f"{r.letter} {r.figures.delivered}" for r in ordered)
        text = (
            f"No winner yet: too few delivered messages to test. Each treatment needs at least {MIN_SAMPLE} "
            f"delivered messages (delivered so far: {counts})."
        )
    elif verdict.outcome == "no_difference":
        text = (
            f"No winner: the differences in {label} between the treatments and treatment A are not "
            f"statistically significant (p ≥ {ALPHA}), so they may be chance. More recipients may show one."
        )
    else:
        text = ""
    return ABTest(rate, label, verdict, text)


def run_rows(campaign: Campaign, runs: Iterable[CampaignRun]) -> list[CampaignRun]:
    """The runs with `activity_rows` (their activities, treatment order), each with `letter` and its
    message `figures` from the rollup (one query for all), and `lane_count` / `lanes_ended` for a
    large run written in lanes (prefetch "lanes" with "activities")."""
    runs = list(runs)
    for run in runs:
        run.activity_rows = sorted(run.activities.all(), key=lambda a: (len(a.treatment_id), a.treatment_id))
        lanes = run.lanes.all()
        run.lane_count = len(lanes)
        run.lanes_ended = sum(1 for lane in lanes if lane.ended_at is not None)
    shown = [activity.id for run in runs for activity in run.activity_rows]
    found = (
        figures_by(campaign.project_id, "campaign_activity_id", campaign_id=campaign.pk, campaign_activity_id=shown)
        if shown
        else {}
    )
    for run in runs:
        for activity in run.activity_rows:
            activity.letter = letter(activity.treatment_id)
            activity.figures = found.get(activity.id) or Figures()
    return runs


def daily_series(campaign: Campaign) -> Series:
    """Per UTC day: messages sent (accepted) and delivered, unique opens and clicks, opt-outs."""
    daily = figures_daily(campaign.project_id, campaign_id=campaign.pk)
    return series_of(message_series(daily), SERIES)


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
