"""In-app messages (GetInAppMessages): the campaigns an app should be ready to show an endpoint.

Pinpoint does not deliver in-app messages: the app asks for them and its SDK decides when to show
one (the campaign's EventFilter, evaluated on the device), enforcing the caps itself. So the
answer is the endpoint's eligible in-app campaigns, each with its message, caps and schedule:

- Frequency IN_APP_EVENT, in an active state (SCHEDULED, EXECUTING, PENDING_NEXT_RUN), not paused,
  started (StartTime IMMEDIATE or passed) and not ended (EndTime, if any, still ahead);
- the endpoint is a member of the campaign's segment (pinned version honoured) — ACTIVE, and not
  opted out of all messages (OptOut ALL);
- the endpoint's treatment by its cohort (campaigns.treatments, the engine's allocation): an endpoint
  in the holdout gets nothing from that campaign; a treatment's own members replace the campaign's;
- the treatment's in-app message: MessageConfiguration.InAppMessage, else the content of
  TemplateConfiguration.InAppTemplate (the pinned Version, or the active one; in-app templates
  have no variables, so the content is the message). A campaign whose template is gone is left out;
- ordered by Priority (1 is the highest; campaigns without one come last, then oldest first).

Caps are the campaign's Limits (Daily, Session, Total), missing ones taken from the project's
settings; a cap set nowhere is omitted.

Segment membership of every candidate campaign is decided in one query on the endpoint's row
(one boolean column per campaign, from the segment compiler's conditions).
"""

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db.models import BooleanField, Case, Q, Value, When
from django.utils import timezone

from audience.compiler import SegmentInvalid
from audience.models import Endpoint, OptOut, Segment, SegmentMember, SegmentType
from audience.segments import definition_of, segment_condition
from campaigns.models import Campaign, CampaignState, Frequency, TemplateType
from campaigns.schedule import ScheduleInvalid, end_of, first_start
from campaigns.templates import TemplateInvalid, TemplateNotFound, template_get
from campaigns.treatments import HOLDOUT, treatment_of, treatments_of
from projects.models import ApplicationSettings, Project

logger = logging.getLogger(__name__)

ACTIVE_STATES = (CampaignState.SCHEDULED, CampaignState.EXECUTING, CampaignState.PENDING_NEXT_RUN)
INAPP_MEMBERS = ("Content", "CustomConfig", "Layout")
# Limits member → InAppMessageCampaign member, and the project setting that supplies a default.
CAPS = (
    ("Daily", "DailyCap", "limits_daily"),
    ("Session", "SessionCap", "limits_session"),
    ("Total", "TotalCap", "limits_total"),
)


def in_window(schedule: Mapping[str, Any], now: datetime) -> bool:
    """StartTime ≤ now < EndTime (IMMEDIATE has started; no EndTime never ends). A schedule whose
    times cannot be read is outside."""
    try:
        if first_start(schedule, now=now) > now:
            return False
        end = end_of(schedule)
    except ScheduleInvalid:
        return False
    return end is None or now < end


def segment_condition_of(project: Project, segment: Segment | None, version: int | None, *, now: datetime) -> Q | None:
    """The condition a member endpoint satisfies (None: no usable segment — deleted or invalid)."""
    if segment is None:
        return None
    if segment.segment_type == SegmentType.IMPORT:
        return Q(key__in=SegmentMember.objects.filter(segment=segment).values("endpoint_key"))
    try:
        return segment_condition(project, definition_of(segment, version), now=now, _trail=(segment.pk,))
    except SegmentInvalid as error:
        logger.warning("Segment %s of project %s cannot be read: %s", segment.pk, project.pk, error)
        return None


def campaigns_containing(
    project: Project, endpoint_key: str, campaigns: Sequence[Campaign], *, now: datetime
) -> tuple[Endpoint | None, set[str]]:
    """The ACTIVE endpoint with `endpoint_key` (None if there is none) and the ids of the campaigns
    among `campaigns` whose segment contains it — one query on the endpoint's row."""
    flags: dict[str, Case] = {}
    names: dict[str, str] = {}
    for position, campaign in enumerate(campaigns):
        condition = segment_condition_of(project, campaign.segment, campaign.segment_version, now=now)
        if condition is not None:
            name = f"in_campaign_{position}"
            names[name] = campaign.pk
            flags[name] = Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())
    endpoint = Endpoint.objects.for_project(project).active().filter(key=endpoint_key).annotate(**flags).first()
    if endpoint is None:
        return None, set()
    return endpoint, {campaign_id for name, campaign_id in names.items() if getattr(endpoint, name)}


def _message(definition: Mapping[str, Any]) -> dict[str, Any] | None:
    configured = (definition.get("MessageConfiguration") or {}).get("InAppMessage")
    if configured:
        return {member: configured[member] for member in INAPP_MEMBERS if configured.get(member) is not None}
    template = (definition.get("TemplateConfiguration") or {}).get("InAppTemplate")
    if not template or not template.get("Name"):
        return None
    version = template.get("Version")
    try:
        row = template_get(TemplateType.INAPP, template["Name"], None if version is None else str(version))
    except (TemplateNotFound, TemplateInvalid) as error:
        logger.warning("In-app template of a campaign cannot be read: %s", error)
        return None
    return {member: row.content[member] for member in INAPP_MEMBERS if row.content.get(member) is not None}


def _caps(limits: Mapping[str, Any], defaults: ApplicationSettings | None) -> dict[str, int]:
    caps = {}
    for member, name, setting in CAPS:
        value = limits.get(member)
        if value is None and defaults is not None:
            value = getattr(defaults, setting)
        if value is not None:
            caps[name] = int(value)
    return caps


class InAppEndpointMissing(Exception):
    """No endpoint with this id in the project."""


def inapp_messages(project: Project, endpoint_id: str, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """GetInAppMessages: the endpoint's InAppMessageCampaign list (see the module docstring).
    Raises InAppEndpointMissing when the project has no such endpoint. Reads only."""
    now = now or timezone.now()
    key = endpoint_id.lower()
    if not Endpoint.objects.for_project(project).filter(key=key).exists():
        raise InAppEndpointMissing(endpoint_id)
    candidates = [
        campaign
        for campaign in Campaign.objects.filter(
            project=project, frequency=Frequency.IN_APP_EVENT, state__in=ACTIVE_STATES, is_paused=False
        )
        .select_related("segment")
        .order_by("creation_date", "id")
        if in_window(campaign.definition.get("Schedule") or {}, now)
    ]
    if not candidates:
        return []
    endpoint, containing = campaigns_containing(project, key, candidates, now=now)
    if endpoint is None or endpoint.opt_out == OptOut.ALL:
        return []
    defaults = ApplicationSettings.objects.filter(project=project).first()
    answer = []
    for campaign in candidates:
        if campaign.pk not in containing:
            continue
        allocation = treatments_of(campaign.definition)
        treatment = treatment_of(endpoint.cohort_id, allocation)
        if treatment in (None, HOLDOUT):
            continue
        definition = next(t for t in allocation if t["Id"] == treatment)
        message = _message(definition)
        if message is None:
            continue
        schedule = definition.get("Schedule") or {}
        entry: dict[str, Any] = {"CampaignId": campaign.pk, "TreatmentId": treatment}
        priority = campaign.definition.get("Priority", campaign.priority)
        if priority is not None:
            entry["Priority"] = int(priority)
        entry.update(_caps(campaign.definition.get("Limits") or {}, defaults))
        entry["InAppMessage"] = message
        entry["Schedule"] = {
            member: schedule[source]
            for member, source in (("EndDate", "EndTime"), ("EventFilter", "EventFilter"), ("QuietTime", "QuietTime"))
            if schedule.get(source)
        }
        answer.append(entry)
    # Stable sort: equal priorities keep the oldest campaign first.
    answer.sort(key=lambda entry: (entry.get("Priority") is None, entry.get("Priority", 0)))
    return answer
