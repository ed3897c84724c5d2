"""What the journey analytics page shows: the per-activity funnel (participants who entered each
activity, then for message activities the messages sent, delivered, opened and clicked) and the
journey's daily series.

Participants come from the engine's rows, counted as the canvas and GetJourneyExecutionActivityMetrics
count them (journeys.engine.metrics): an activity's entered = its JourneyStep rows (participants
who passed through it, whatever the decision) + participants in it now. Message figures come from
the analytics rollup by journey_activity_id (campaigns.message_metrics: sent = accepted by the
channel, delivered = accepted - bounced afterwards, unique opens and clicks). A few grouped queries,
whatever the number of participants.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncDate

from campaigns.message_metrics import (
    SERIES,
    Figures,
    Series,
    figures_by,
    figures_daily,
    message_series,
    percent,
    series_of,
)
from journeys.engine.graph import ACTIVITY_TYPE, kind_of
from journeys.models import Journey, JourneyParticipant, JourneyStep, ParticipantState

JOURNEY_SERIES = (("entered", "Entered the journey"), *SERIES)
# The funnel's stages, in order: (key, label); each after the first is converted from the previous.
STAGES = (
    ("entered", "Entered"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("opens", "Opened"),
    ("clicks", "Clicked"),
)


@dataclass
class FunnelRow:
    activity_id: str
    label: str
    message: bool  # a message activity (email, SMS, push, custom): the message stages apply
    entered: int = 0
    of_journey: float | None = None  # entered, in percent of the journey's participants
    figures: Figures = field(default_factory=Figures)

    def stage(self, key: str) -> int | None:
        if key == "entered":
            return self.entered
        return getattr(self.figures, key) if self.message else None

    @property
    def stages(self) -> list[dict[str, Any]]:
        """Each stage's value and its conversion from the previous stage (percent), for the table."""
        cells, previous = [], None
        for key, label in STAGES:
            value = self.stage(key)
            conversion = percent(value, previous) if value is not None and previous is not None else None
            cells.append({"key": key, "label": label, "value": value, "conversion": conversion})
            previous = value
        return cells


@dataclass
class Funnel:
    participants: int  # entries into the journey (a re-entry counts again)
    rows: list[FunnelRow]

    def chart_data(self) -> dict[str, Any]:
        return {
            "labels": [f"{row.label} {row.activity_id}" for row in self.rows],
            "datasets": [
                {"key": key, "label": label, "data": [row.stage(key) for row in self.rows]} for key, label in STAGES
            ],
        }


def journey_funnel(journey: Journey, activities: Iterable[tuple[str, str]]) -> Funnel:
    """The funnel of the journey's activities, given in journey order as (id, label). Four queries."""
    definition = (journey.definition or {}).get("Activities") or {}
    entered: dict[str, int] = defaultdict(int)
    passed = JourneyStep.objects.filter(journey=journey).values_list("activity_id").annotate(n=Count("id"))
    here = (
        JourneyParticipant.objects.filter(journey=journey, state=ParticipantState.ACTIVE)
        .values_list("activity_id")
        .annotate(n=Count("id"))
    )
    for activity_id, n in [*passed.order_by(), *here.order_by()]:
        entered[activity_id] += n
    participants = JourneyParticipant.objects.filter(journey=journey).count()
    found = figures_by(journey.project_id, "journey_activity_id", journey_id=journey.pk)
    rows = []
    for activity_id, label in activities:
        kind = kind_of(definition.get(activity_id) if isinstance(definition.get(activity_id), Mapping) else {})
        rows.append(
            FunnelRow(
                activity_id,
                label,
                ACTIVITY_TYPE.get(kind) == "MESSAGE",
                entered[activity_id],
                percent(entered[activity_id], participants),
                found.get(activity_id) or Figures(),
            )
        )
    return Funnel(participants, rows)


def journey_series(journey: Journey) -> Series:
    """Per UTC day: participants who entered the journey, and its messages' figures."""
    per_day: dict[date, dict[str, int]] = message_series(figures_daily(journey.project_id, journey_id=journey.pk))
    entries = (
        JourneyParticipant.objects.filter(journey=journey)
        .annotate(day=TruncDate("entered_at", tzinfo=UTC))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    for day, n in entries:
        per_day.setdefault(day, {})["entered"] = n
    return series_of(per_day, JOURNEY_SERIES)
