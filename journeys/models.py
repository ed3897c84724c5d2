"""Journeys: a multi-step, multi-channel path endpoints travel through (Pinpoint's journeys).

The journey's definition is stored as Pinpoint's WriteJourneyRequest members (`definition`), with
the editor's canvas layout kept apart (`layout`, never part of an API response). The engine keeps
one JourneyParticipant row per endpoint and entry, moved activity by activity by a scheduled
advancer; every activity a participant passes leaves a JourneyStep, from which execution metrics
and runs are derived.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from projects.models import Project, new_resource_id


class JourneyState(models.TextChoices):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    CLOSED = "CLOSED"
    PAUSED = "PAUSED"


class Journey(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_resource_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="journeys")
    name = models.CharField(max_length=150)
    state = models.CharField(max_length=16, choices=JourneyState.choices, default=JourneyState.DRAFT)
    definition = models.JSONField(
        default=dict, help_text="WriteJourneyRequest members as Pinpoint answers them (Activities, StartActivity…)."
    )
    layout = models.JSONField(
        default=dict, blank=True, help_text="Engage's editor only: activity id → {x, y} on the canvas."
    )
    segment = models.ForeignKey(
        "audience.Segment", on_delete=models.SET_NULL, null=True, blank=True, related_name="journeys"
    )
    start_time = models.DateTimeField(null=True, blank=True, help_text="Schedule.StartTime (or publish + 5 min).")
    end_time = models.DateTimeField(null=True, blank=True)
    next_refresh_at = models.DateTimeField(
        null=True, blank=True, help_text="When the segment is read next to admit endpoints (segment entry)."
    )
    published_at = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    creation_date = models.DateTimeField(default=timezone.now)
    last_modified_date = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["project", "creation_date", "id"], name="journey_listing"),
            models.Index(
                fields=["next_refresh_at"],
                name="journey_refresh_due",
                condition=models.Q(next_refresh_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class JourneyRunStatus(models.TextChoices):
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class JourneyRun(models.Model):
    """One admission of endpoints (Pinpoint's JourneyRunResponse): a segment read at the start or a
    refresh, or, for event entry, one run for the journey's life. `cursor` is the last endpoint key
    admitted, so an interrupted admission resumes after it."""

    id = models.CharField(primary_key=True, max_length=32, default=new_resource_id, editable=False)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=JourneyRunStatus.choices, default=JourneyRunStatus.SCHEDULED)
    scheduled_at = models.DateTimeField()
    cursor = models.CharField(max_length=128, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    creation_time = models.DateTimeField(default=timezone.now)
    last_update_time = models.DateTimeField(default=timezone.now)
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Admission decisions no participant row records: metric name → count."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["journey", "scheduled_at"], name="journey_run_once_per_time")]
        indexes = [models.Index(fields=["journey", "creation_time"], name="journey_run_listing")]

    def __str__(self) -> str:
        return f"{self.journey_id} run {self.id} ({self.status})"


class ParticipantState(models.TextChoices):
    ACTIVE = "ACTIVE"  # in `activity_id`, acted on at `next_at`
    DONE = "DONE"  # left through an activity with no next activity
    EXITED = "EXITED"  # removed: journey cancelled, limits, missing channel...


class JourneyParticipant(models.Model):
    """One endpoint's way through a journey (one row per entry: re-entry makes a new row)."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="participants")
    run = models.ForeignKey(JourneyRun, on_delete=models.CASCADE, related_name="participants")
    endpoint_key = models.CharField(max_length=128)
    entry = models.PositiveIntegerField(default=1, help_text="1 for the first entry, 2 for a re-entry...")
    activity_id = models.CharField(max_length=128, help_text="The activity it is in (or last was in).")
    state = models.CharField(max_length=8, choices=ParticipantState.choices, default=ParticipantState.ACTIVE)
    next_at = models.DateTimeField(null=True, blank=True, help_text="When the advancer acts on it next.")
    context = models.JSONField(
        default=dict, blank=True, help_text="What later splits read: custom activities' EventAttributes..."
    )
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    entered_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["journey", "endpoint_key", "entry"], name="journey_participant_entry")
        ]
        indexes = [
            models.Index(fields=["next_at"], name="participant_due", condition=models.Q(state="ACTIVE")),
            models.Index(fields=["journey", "activity_id", "state"], name="participant_activity"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_key} in {self.journey_id} at {self.activity_id}"


class JourneyStep(models.Model):
    """A participant's pass through one activity: when, and what happened (Pinpoint's journey send
    status for messages, the branch taken for splits, WAITED for waits...). Unique per (participant,
    activity): journeys are acyclic, so an advancer that repeats a step after a crash writes nothing twice."""

    participant = models.ForeignKey(JourneyParticipant, on_delete=models.CASCADE, related_name="steps")
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(JourneyRun, on_delete=models.CASCADE, related_name="+")
    activity_id = models.CharField(max_length=128)
    activity_type = models.CharField(max_length=32)
    status = models.CharField(max_length=40, help_text="SUCCESS, QUIET_TIME, DAILY_CAP, WAITED, BRANCH_1…")
    branch = models.CharField(max_length=128, blank=True, help_text="The next activity it went to.")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["participant", "activity_id"], name="journey_step_once")]
        indexes = [models.Index(fields=["journey", "activity_id", "status"], name="journey_step_metrics")]

    def __str__(self) -> str:
        return f"{self.participant_id} {self.activity_id} {self.status}"
