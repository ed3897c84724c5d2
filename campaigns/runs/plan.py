"""What a run needs to decide a batch, worked out once per step: the definition of the run's campaign
version, the treatments and their cohorts, each treatment's messages, the limits and quiet time.

Treatment allocation is campaigns.treatments' (HOLDOUT, treatments_of and treatment_of are imported
from here too).

A campaign's MessageConfiguration is translated once into SendMessages' DirectMessageConfiguration
shape, so campaigns.messages layers, templates and renders it as SendMessages does:
EmailMessage {Title, Body, HtmlBody, FromAddress, Headers} → SimpleEmail; the push messages (Message
shape) keep their members (ImageSmallIconUrl → SmallImageIconUrl); DefaultMessage → both
DefaultMessage (its Body, for every channel) and DefaultPushNotificationMessage.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from audience.models import Endpoint
from campaigns.messages import (
    CHANNEL_MESSAGE,
    TEMPLATE_TYPE,
    ChannelMessage,
    MessageInvalid,
    MessageSpec,
    channel_message,
)
from campaigns.models import Campaign, CampaignVersion
from campaigns.schedule import EARLIEST_OFFSET, IMMEDIATE, offset_of, parse_hh_mm, parse_instant
from campaigns.templates import TemplateInvalid, TemplateNotFound, template_get
from campaigns.treatments import treatments_of
from projects.models import ApplicationSettings, Project

# Channels a campaign sends through (no voice in campaigns: Pinpoint's VoiceTemplate "isn't supported
# for campaigns"; IN_APP messages are fetched, not sent; CUSTOM goes by CustomDeliveryConfiguration).
CAMPAIGN_CHANNELS = frozenset(CHANNEL_MESSAGE) - {"VOICE"}
PUSH_MEMBERS = {"ImageSmallIconUrl": "SmallImageIconUrl"}


class RunInvalid(Exception):
    """The run cannot be made (its template is gone...): the run fails and the campaign is INVALID."""


def direct_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A campaign MessageConfiguration in DirectMessageConfiguration's shape (see the module doc)."""
    config = config or {}
    direct: dict[str, Any] = {}
    default = config.get("DefaultMessage") or {}
    if default:
        direct["DefaultMessage"] = {"Body": default.get("Body")}
        direct["DefaultPushNotificationMessage"] = _push(default)
    email = config.get("EmailMessage") or {}
    if email:
        simple: dict[str, Any] = {}
        for member, part in (("Title", "Subject"), ("Body", "TextPart"), ("HtmlBody", "HtmlPart")):
            if email.get(member):
                simple[part] = {"Data": email[member]}
        if email.get("Headers"):
            simple["Headers"] = email["Headers"]
        direct["EmailMessage"] = {"SimpleEmail": simple, "FromAddress": email.get("FromAddress")}
    if config.get("SMSMessage"):
        direct["SMSMessage"] = dict(config["SMSMessage"])
    for member in ("GCMMessage", "APNSMessage", "ADMMessage", "BaiduMessage"):
        if config.get(member):
            direct[member] = _push(config[member])
    return direct


def _push(message: Mapping[str, Any]) -> dict[str, Any]:
    return {PUSH_MEMBERS.get(name, name): value for name, value in message.items()}


def template_spec(template_configuration: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    """TemplateConfiguration → {member: (name, version)} for the channels campaigns send through."""
    templates = {}
    for member, template in (template_configuration or {}).items():
        if member in TEMPLATE_TYPE and member != "VoiceTemplate" and (template or {}).get("Name"):
            templates[member] = (template["Name"], str(template.get("Version") or ""))
    return templates


@dataclass
class TreatmentPlan:
    id: str
    cohorts: tuple[int, int]
    spec: MessageSpec
    schedule: Mapping[str, Any]
    custom: Mapping[str, Any] | None  # CustomDeliveryConfiguration
    custom_data: str
    messages: dict[str, ChannelMessage | None] = field(default_factory=dict)  # None: nothing to send there
    delay: timedelta = timedelta(0)  # its own Schedule's StartTime after the campaign's (see treatment_delay)


@dataclass
class Plan:
    campaign: Campaign
    definition: Mapping[str, Any]
    settings: ApplicationSettings | None
    treatments: dict[str, TreatmentPlan]
    allocation: list[dict[str, Any]]
    # MessagesPerSecond: instant → [first send time, rows given], kept for the step (campaigns.runs.send)
    slots: dict[datetime, list] = field(default_factory=dict)

    @property
    def project(self) -> Project:
        return self.campaign.project

    def limit(self, name: str) -> int:
        """Limits.<name>, or the project's default; 0 when there is none (no limit)."""
        value = (self.definition.get("Limits") or {}).get(name)
        if value in (None, 0) and self.settings is not None:
            value = getattr(self.settings, f"limits_{_snake(name)}", None)
        return int(value or 0)

    @property
    def project_daily(self) -> int:
        return int(self.settings.limits_daily or 0) if self.settings is not None else 0

    def quiet_time(self, treatment: TreatmentPlan) -> tuple[time, time] | None:
        quiet = treatment.schedule.get("QuietTime") or {}
        if quiet.get("Start") and quiet.get("End"):
            return parse_hh_mm(quiet["Start"], "QuietTime.Start"), parse_hh_mm(quiet["End"], "QuietTime.End")
        if self.settings is not None and self.settings.quiet_time_start and self.settings.quiet_time_end:
            return parse_hh_mm(self.settings.quiet_time_start, "QuietTime.Start"), parse_hh_mm(
                self.settings.quiet_time_end, "QuietTime.End"
            )
        return None

    def hook(self) -> dict[str, str] | None:
        """The campaign's Hook, or the project's default hook; None when neither is set."""
        hook = self.definition.get("Hook") or {}
        if hook.get("WebUrl") or hook.get("LambdaFunctionName"):
            return {k: str(hook.get(k) or "") for k in ("WebUrl", "LambdaFunctionName", "Mode")}
        s = self.settings
        if s is not None and (s.hook_web_url or s.hook_lambda_function_name):
            return {"WebUrl": s.hook_web_url, "LambdaFunctionName": s.hook_lambda_function_name, "Mode": s.hook_mode}
        return None

    def message(self, treatment: TreatmentPlan, channel: str) -> ChannelMessage | None:
        """The treatment's message for `channel` (cached), or None when it has none there or the
        channel is not enabled. Raises RunInvalid when a template it names is gone."""
        if channel not in treatment.messages:
            found: ChannelMessage | None = None
            if channel in CAMPAIGN_CHANNELS:
                try:
                    found = channel_message(self.project, treatment.spec, channel)
                except MessageInvalid:
                    found = None
            treatment.messages[channel] = found
        return treatment.messages[channel]

    def maximum_duration(self) -> timedelta | None:
        seconds = self.limit("MaximumDuration")
        return timedelta(seconds=seconds) if seconds else None

    def schedule_tz(self, treatment: TreatmentPlan) -> dt_timezone:
        return offset_of(treatment.schedule.get("Timezone") or "UTC")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def definition_for(campaign: Campaign, version: int | None) -> Mapping[str, Any]:
    """The definition of the campaign's `version` (the current one when not stored)."""
    if version is not None and version != campaign.version:
        stored = CampaignVersion.objects.filter(campaign=campaign, version=version).first()
        if stored is not None:
            return stored.definition
    return campaign.definition


def plan_for(campaign: Campaign, version: int | None = None) -> Plan:
    """The run plan of `campaign` (at `version`). Raises RunInvalid when a template it names is gone."""
    definition = definition_for(campaign, version)
    settings = ApplicationSettings.objects.filter(project_id=campaign.project_id).first()
    allocation = treatments_of(definition)
    treatments = {}
    for t in allocation:
        templates = template_spec(t.get("TemplateConfiguration"))
        for member, (name, number) in templates.items():
            try:
                template_get(TEMPLATE_TYPE[member], name, number or None)
            except (TemplateNotFound, TemplateInvalid) as error:
                raise RunInvalid(f"Treatment {t['Id']}: {error}") from None
        config = t.get("MessageConfiguration") or {}
        custom_config = t.get("CustomDeliveryConfiguration") or None
        treatments[t["Id"]] = TreatmentPlan(
            id=t["Id"],
            cohorts=t["Cohorts"],
            spec=MessageSpec(config=direct_config(config), templates=templates),
            schedule=t.get("Schedule") or definition.get("Schedule") or {},
            custom=custom_config,
            custom_data=str((config.get("CustomMessage") or {}).get("Data") or ""),
            delay=treatment_delay(t.get("Schedule") or {}, definition.get("Schedule") or {}),
        )
    return Plan(campaign, definition, settings, treatments, allocation)


def treatment_delay(own: Mapping[str, Any], campaign: Mapping[str, Any]) -> timedelta:
    """How long after each run's start a treatment with its own Schedule sends: its StartTime minus
    the campaign's (runs follow the campaign's schedule; the treatment's rows fall due later, and the
    outbox holds them until then). Zero when either starts IMMEDIATE, or the treatment starts first."""
    starts = [s.get("StartTime") for s in (own, campaign)]
    if any(start in (None, "", IMMEDIATE) for start in starts):
        return timedelta(0)
    own_start, campaign_start = (
        parse_instant(start, tz=offset_of(s.get("Timezone") or "UTC"))
        for start, s in zip(starts, (own, campaign), strict=True)
    )
    return max(timedelta(0), own_start - campaign_start)


def goes_custom(treatment: TreatmentPlan, endpoint: Endpoint) -> bool:
    """Whether the treatment's CustomDeliveryConfiguration takes this endpoint (EndpointTypes; none
    listed: every endpoint)."""
    if not treatment.custom or not treatment.custom.get("DeliveryUri"):
        return False
    types = treatment.custom.get("EndpointTypes") or []
    return not types or endpoint.channel_type in types


def start_of_run(schedule: Mapping[str, Any], run_begins_at: datetime) -> datetime:
    """The inverse of campaigns.schedule.run_begins: the start a run created at `run_begins_at` is for."""
    if not schedule.get("IsLocalTime"):
        return run_begins_at
    wall = run_begins_at.astimezone(dt_timezone(EARLIEST_OFFSET)).replace(tzinfo=None)
    return wall.replace(tzinfo=offset_of(schedule.get("Timezone") or "UTC"))
