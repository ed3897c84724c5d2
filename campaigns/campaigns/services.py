"""The campaign write services: create, update (every save a new Version), pause, delete, and the
segment-deleted rule; each save works out the campaign's state and next run and checks the
project's campaign quotas."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audience.models import Segment
from campaigns import schedule as sched
from campaigns.campaigns.definition import campaign_definition
from campaigns.campaigns.members import TRIGGERED
from campaigns.campaigns.responses import campaign_response
from campaigns.campaigns.values import CampaignInvalid
from campaigns.models import Campaign, CampaignState, CampaignVersion, Delivery, DeliveryStatus, Frequency
from projects.models import Project
from projects.services import MAX_TAGS, tags_validate

MAX_ACTIVE = 200  # SCHEDULED, EXECUTING or PENDING_NEXT_RUN campaigns per project
MAX_EVENT = 25  # event-triggered campaigns per project
MAX_IN_APP = 25  # in-app campaigns per project
ACTIVE = (CampaignState.SCHEDULED, CampaignState.EXECUTING, CampaignState.PENDING_NEXT_RUN)
RECURRING = (Frequency.HOURLY, Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY)
# The Schedule members that decide when runs start (other changes keep the planned next run).
TIMING = ("StartTime", "EndTime", "Frequency", "Timezone", "IsLocalTime")


def _start_of_run(schedule: Mapping[str, Any], *, last: datetime | None, now: datetime) -> datetime | None:
    """When the scheduler must start the next run of `schedule`, given the last run's start (or None)."""
    frequency = schedule.get("Frequency") or Frequency.ONCE
    if frequency in TRIGGERED:
        return None
    first = sched.first_start(schedule, now=now)
    if last is None:
        start: datetime | None = first
    elif frequency == Frequency.ONCE:
        start = first if schedule.get("StartTime") != sched.IMMEDIATE and first > last else None
    else:
        start = sched.next_start(schedule, after=last, first=first)
    return sched.run_begins(schedule, start) if start is not None else None


def _state_of(*, paused: bool, frequency: str, current: str | None, next_run_at: datetime | None, ran: bool) -> str:
    if paused:
        return CampaignState.PAUSED
    if current == CampaignState.EXECUTING:
        return current
    if frequency in TRIGGERED:
        return CampaignState.SCHEDULED
    if next_run_at is None:
        return CampaignState.COMPLETED
    return CampaignState.PENDING_NEXT_RUN if ran else CampaignState.SCHEDULED


def _check_quotas(project_id: str, *, campaign_id: str | None, state: str, frequency: str, was: dict | None) -> None:
    # Serialises quota checks of one project (its row is the lock); SQLite serialises writes anyway.
    Project.objects.select_for_update().filter(pk=project_id).values_list("pk").first()
    others = Campaign.objects.filter(project_id=project_id).exclude(pk=campaign_id or "")
    becomes_active = state in ACTIVE and (was is None or was["state"] not in ACTIVE)
    if becomes_active and others.filter(state__in=ACTIVE).count() >= MAX_ACTIVE:
        raise CampaignInvalid(f"A project has at most {MAX_ACTIVE} active campaigns (scheduled or running).")
    quotas = ((Frequency.EVENT, MAX_EVENT, "event-based"), (Frequency.IN_APP_EVENT, MAX_IN_APP, "in-app"))
    for kind, limit, label in quotas:
        if frequency == kind and (was is None or was["frequency"] != kind):
            live = others.filter(frequency=kind).exclude(state__in=[CampaignState.COMPLETED, CampaignState.DELETED])
            if live.count() >= limit:
                raise CampaignInvalid(f"A project has at most {limit} {label} campaigns.")


def _save(campaign: Campaign, definition: dict[str, Any], segment: Segment | None, *, now: datetime) -> Campaign:
    """Write `definition` as the campaign's next version (1 for an unsaved campaign), with its columns,
    state and next run. An existing campaign must be locked (select_for_update) by the caller."""
    creating = campaign._state.adding
    was = (
        None
        if creating
        else {
            "state": campaign.state,
            "frequency": campaign.frequency,
            "schedule": campaign.definition.get("Schedule") or {},
            "paused": campaign.is_paused,
        }
    )
    schedule = definition["Schedule"]
    frequency = schedule.get("Frequency") or Frequency.ONCE
    paused = bool(definition.get("IsPaused"))
    last = None if creating else campaign.runs.aggregate(last=Max("scheduled_start"))["last"]
    next_run_at = campaign.next_run_at
    revived = was is not None and was["state"] in (CampaignState.DELETED, CampaignState.INVALID)
    if was is None or revived or any(was["schedule"].get(k) != schedule.get(k) for k in TIMING):
        next_run_at = _start_of_run(schedule, last=last, now=now)
    elif was["paused"] and not paused and frequency in RECURRING and next_run_at is not None and next_run_at < now:
        # Resumed after runs were due: the next run is the first start still ahead.
        start = sched.next_start(schedule, after=max(now, last or now), first=sched.first_start(schedule, now=now))
        next_run_at = sched.run_begins(schedule, start) if start else None
    state = _state_of(
        paused=paused,
        frequency=frequency,
        current=was["state"] if was else None,
        next_run_at=next_run_at,
        ran=last is not None,
    )
    if segment is None and campaign.segment_id is None:  # its segment was deleted: only a new one revives it
        state, next_run_at = CampaignState.DELETED, None
    _check_quotas(
        campaign.project_id, campaign_id=None if creating else campaign.pk, state=state, frequency=frequency, was=was
    )
    campaign.name = definition.get("Name", "")
    campaign.version = 1 if creating else campaign.version + 1
    campaign.state = state
    campaign.is_paused = paused
    campaign.frequency = frequency
    if segment is not None:
        campaign.segment = segment
    campaign.segment_version = definition.get("SegmentVersion")
    campaign.priority = definition.get("Priority")
    campaign.definition = definition
    campaign.next_run_at = next_run_at
    campaign.last_modified_date = now
    campaign.save()
    CampaignVersion.objects.create(
        campaign=campaign, version=campaign.version, definition=definition, creation_date=now
    )
    return campaign


def _user_or_none(user: object) -> Any:
    return user if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) else None


def campaign_create(project: Project, request: Mapping[str, Any], *, user: object = None) -> Campaign:
    """CreateCampaign: check every member, save the campaign and its version 1. Raises CampaignInvalid."""
    now = timezone.now()
    definition, segment = campaign_definition(project, request, previous={}, now=now)
    try:
        tags = tags_validate(request.get("tags") or {})
    except ValidationError as error:
        raise CampaignInvalid(" ".join(error.messages)) from None
    if len(tags) > MAX_TAGS:
        raise CampaignInvalid(f"A resource can have at most {MAX_TAGS} tags.")
    with transaction.atomic():
        campaign = Campaign(project=project, tags=tags, creation_date=now, created_by=_user_or_none(user))
        return _save(campaign, definition, segment, now=now)


def campaign_update(campaign: Campaign, request: Mapping[str, Any], *, user: object = None) -> Campaign:
    """UpdateCampaign: members sent replace the stored ones, the result is checked whole and saved as
    the next Version (tags are ignored, as Pinpoint does). Raises CampaignInvalid."""
    now = timezone.now()
    definition, segment = campaign_definition(campaign.project, request, previous=campaign.definition, now=now)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        return _save(locked, definition, segment, now=now)


def campaign_set_paused(campaign: Campaign, paused: bool, *, user: object = None) -> Campaign:
    """Pause or resume (IsPaused) as a new Version, without re-checking the rest of the definition:
    a paused campaign skips its next runs until resumed. Raises CampaignInvalid for IMMEDIATE ones."""
    now = timezone.now()
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if paused and (locked.definition.get("Schedule") or {}).get("StartTime") == sched.IMMEDIATE:
            raise CampaignInvalid("A campaign that starts IMMEDIATE cannot be paused.")
        return _save(locked, {**locked.definition, "IsPaused": paused}, None, now=now)


def campaign_delete(campaign: Campaign) -> dict[str, Any]:
    """DeleteCampaign: remove the campaign (versions, runs, activities) and end its QUEUED deliveries
    as FAILED_PERMANENT "CAMPAIGN_DELETED", in one transaction. Returns the CampaignResponse it had."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update(of=("self",)).select_related("segment").get(pk=campaign.pk)
        body = campaign_response(locked)
        now = timezone.now()
        Delivery.objects.filter(
            project_id=locked.project_id, campaign_id=locked.pk, status=DeliveryStatus.QUEUED
        ).update(
            status=DeliveryStatus.FAILED_PERMANENT,
            last_error=f"CAMPAIGN_DELETED: campaign {locked.pk} was deleted before this message was sent.",
            updated_at=now,
        )
        locked.delete()
    return body


def campaigns_segment_deleted(segment: Segment) -> int:
    """The campaigns of a segment being deleted become DELETED with nothing scheduled (Pinpoint's
    rule); returns how many. Called from the Segment pre_delete signal (campaigns.apps)."""
    return Campaign.objects.filter(segment=segment).update(
        state=CampaignState.DELETED, next_run_at=None, last_modified_date=timezone.now()
    )
