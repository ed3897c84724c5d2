"""Campaign definitions: Pinpoint's WriteCampaignRequest checked and saved (every save a new Version),
the campaign's state and next run, deletion, and the CampaignResponse / ActivityResponse shapes.

Conventions (where Pinpoint leaves a choice):
- UpdateCampaign merges: top-level members not sent keep their values (so `{"IsPaused": true}`
  pauses); a member sent replaces the stored one whole, and one sent as null is removed. `tags`
  count on create only.
- A treatment's MessageConfiguration, TemplateConfiguration, Schedule and CustomDeliveryConfiguration
  replace the default treatment's ("0") when given; missing ones are inherited (`treatments_of`),
  except that a treatment with a message or a template of its own inherits neither.
- Treatments take endpoints by Endpoint.cohort_id (0 to 99): the holdout first, then "0", then "1".."4".
- A webhook DeliveryUri gets Pinpoint's HEAD check when it is new to the campaign.
- SegmentVersion not sent: the campaign follows the segment's latest version (answered as such).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audience.compiler import ATTRIBUTE_TYPES, METRIC_OPERATORS
from audience.models import Segment, SegmentType, SegmentVersion
from campaigns import schedule as sched
from campaigns.handlebars import TemplateError, compile_template
from campaigns.models import (
    Campaign,
    CampaignActivity,
    CampaignState,
    CampaignVersion,
    Delivery,
    DeliveryStatus,
    Frequency,
    MessageTemplate,
    TemplateType,
)
from campaigns.templates import TemplateInvalid
from campaigns.templates import _inapp as inapp_content  # the in-app shape is the template's
from campaigns.transports.custom import CustomUriInvalid, custom_uri_check
from campaigns.treatments import treatments_of as allocation_of
from engage.api.formats import iso8601
from engage.webhooks import UrlRefused, check_url
from projects.models import Project
from projects.services import MAX_TAGS, tags_validate

MAX_ACTIVE = 200  # SCHEDULED, EXECUTING or PENDING_NEXT_RUN campaigns per project
MAX_EVENT = 25  # event-triggered campaigns per project
MAX_IN_APP = 25  # in-app campaigns per project
MAX_TREATMENTS = 4  # additional treatments (5 with the default one)
CUSTOM_DATA_BYTES = 5 * 1024
PUSH_BODY_CHARS = 200
MAX_EMAIL_HEADERS = 15
MAX_INT32 = 2_147_483_647
ACTIVE = (CampaignState.SCHEDULED, CampaignState.EXECUTING, CampaignState.PENDING_NEXT_RUN)
TRIGGERED = (Frequency.EVENT, Frequency.IN_APP_EVENT)
RECURRING = (Frequency.HOURLY, Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY)
PUSH_MESSAGES = ("DefaultMessage", "ADMMessage", "APNSMessage", "BaiduMessage", "GCMMessage")
PUSH_STRINGS = (
    "Body",
    "ImageIconUrl",
    "ImageSmallIconUrl",
    "ImageUrl",
    "JsonBody",
    "MediaUrl",
    "RawContent",
    "Title",
    "Url",
)
TEMPLATE_MEMBERS = {
    "EmailTemplate": TemplateType.EMAIL,
    "PushTemplate": TemplateType.PUSH,
    "SMSTemplate": TemplateType.SMS,
    "InAppTemplate": TemplateType.INAPP,
}
ENDPOINT_TYPES = (
    "PUSH",
    "GCM",
    "APNS",
    "APNS_SANDBOX",
    "APNS_VOIP",
    "APNS_VOIP_SANDBOX",
    "ADM",
    "SMS",
    "VOICE",
    "EMAIL",
    "BAIDU",
    "CUSTOM",
    "IN_APP",
)
REQUEST_MEMBERS = (
    "Name",
    "Description",
    "Schedule",
    "MessageConfiguration",
    "TemplateConfiguration",
    "Limits",
    "HoldoutPercent",
    "AdditionalTreatments",
    "TreatmentName",
    "TreatmentDescription",
    "CustomDeliveryConfiguration",
    "Hook",
    "IsPaused",
    "Priority",
    "SegmentId",
    "SegmentVersion",
)
# The Schedule members that decide when runs start (other changes keep the planned next run).
TIMING = ("StartTime", "EndTime", "Frequency", "Timezone", "IsLocalTime")


class CampaignInvalid(Exception):
    """A campaign request Engage refuses (answered 400 BadRequestException); the message says why."""


# --- member checks -------------------------------------------------------------------------------


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CampaignInvalid(f"{where} must be an object.")
    return value


def _string(value: object, where: str, *, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise CampaignInvalid(f"{where} must be a string.")
    if limit is not None and len(value) > limit:
        raise CampaignInvalid(f"{where} is {len(value)} characters long; the limit is {limit}.")
    return value


def _integer(value: object, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CampaignInvalid(f"{where} must be a whole number.")
    if not low <= value <= high:
        raise CampaignInvalid(f"{where} must be between {low} and {high}, not {value}.")
    return value


def _boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise CampaignInvalid(f"{where} must be true or false.")
    return value


def _enum(value: object, where: str, allowed: tuple[str, ...] | list[str]) -> str:
    if value not in allowed:
        raise CampaignInvalid(f"{where} must be one of {', '.join(allowed)}.")
    return value  # type: ignore[return-value]


def _at(where: str, member: str) -> str:
    return f"{where}.{member}" if where else member


def _strings(given: Mapping[str, Any], members: tuple[str, ...], where: str) -> dict[str, str]:
    return {m: _string(given[m], _at(where, m)) for m in members if given.get(m) is not None}


def _string_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CampaignInvalid(f"{where} must be a non-empty list of strings.")
    return list(value)


def _personalised(source: str, where: str) -> None:
    try:
        compile_template(source)
    except TemplateError as problem:
        at = f" at line {problem.line}, column {problem.column}" if problem.line is not None else ""
        raise CampaignInvalid(f"{where} does not parse{at}: {problem.message}") from None


def _schedule(value: object, where: str, *, now: datetime) -> dict[str, Any]:
    given = _object(value, where)
    out: dict[str, Any] = {}
    start = given.get("StartTime")
    if start in (None, ""):
        raise CampaignInvalid(f"{where}.StartTime is required: IMMEDIATE or an ISO-8601 time.")
    out["StartTime"] = _string(start, f"{where}.StartTime")
    if given.get("Timezone") is not None:
        out["Timezone"] = _enum(given["Timezone"], f"{where}.Timezone", sched.TIMEZONES)
    zone = sched.offset_of(out.get("Timezone") or "UTC")
    try:
        begins = now if start == sched.IMMEDIATE else sched.parse_instant(start, tz=zone, where=f"{where}.StartTime")
        if given.get("EndTime") is not None:
            out["EndTime"] = _string(given["EndTime"], f"{where}.EndTime")
            if sched.parse_instant(out["EndTime"], tz=zone, where=f"{where}.EndTime") <= begins:
                raise CampaignInvalid(f"{where}.EndTime must be after the StartTime.")
    except sched.ScheduleInvalid as error:
        raise CampaignInvalid(str(error)) from None
    if given.get("Frequency") is not None:
        out["Frequency"] = _enum(given["Frequency"], f"{where}.Frequency", Frequency.values)
    frequency = out.get("Frequency") or Frequency.ONCE
    if frequency == Frequency.EVENT and start == sched.IMMEDIATE:
        raise CampaignInvalid(f"An EVENT campaign cannot start IMMEDIATE: give {where}.StartTime as a time.")
    if given.get("IsLocalTime") is not None:
        out["IsLocalTime"] = _boolean(given["IsLocalTime"], f"{where}.IsLocalTime")
    if given.get("QuietTime") is not None:
        quiet = _object(given["QuietTime"], f"{where}.QuietTime")
        if quiet.get("Start") or quiet.get("End"):
            try:
                for member in ("Start", "End"):
                    sched.parse_hh_mm(quiet.get(member) or "", f"{where}.QuietTime.{member}")
            except sched.ScheduleInvalid as error:
                raise CampaignInvalid(str(error)) from None
            out["QuietTime"] = {"Start": quiet["Start"], "End": quiet["End"]}
    if given.get("EventFilter") is not None:
        if frequency not in TRIGGERED:
            raise CampaignInvalid(f"{where}.EventFilter applies only to EVENT and IN_APP_EVENT campaigns.")
        out["EventFilter"] = _event_filter(given["EventFilter"], f"{where}.EventFilter")
    elif frequency == Frequency.EVENT:
        raise CampaignInvalid(f"An EVENT campaign needs {where}.EventFilter (the events that trigger it).")
    return out


def _event_filter(value: object, where: str) -> dict[str, Any]:
    given = _object(value, where)
    filter_type = _enum(given.get("FilterType"), f"{where}.FilterType", ("SYSTEM", "ENDPOINT"))
    dimensions = _object(given.get("Dimensions"), f"{where}.Dimensions")
    out: dict[str, Any] = {}
    event_type = _object(dimensions.get("EventType"), f"{where}.Dimensions.EventType")
    out["EventType"] = {"Values": _string_list(event_type.get("Values"), f"{where}.Dimensions.EventType.Values")}
    if event_type.get("DimensionType") is not None:
        out["EventType"]["DimensionType"] = _enum(
            event_type["DimensionType"], f"{where}.Dimensions.EventType.DimensionType", ("INCLUSIVE", "EXCLUSIVE")
        )
    if dimensions.get("Attributes") is not None:
        out["Attributes"] = {}
        for name, raw in _object(dimensions["Attributes"], f"{where}.Dimensions.Attributes").items():
            at = f"{where}.Dimensions.Attributes.{name}"
            attribute = _object(raw, at)
            kept: dict[str, Any] = {"Values": _string_list(attribute.get("Values"), f"{at}.Values")}
            if attribute.get("AttributeType") is not None:
                kept["AttributeType"] = _enum(attribute["AttributeType"], f"{at}.AttributeType", ATTRIBUTE_TYPES)
            out["Attributes"][name] = kept
    if dimensions.get("Metrics") is not None:
        out["Metrics"] = {}
        for name, raw in _object(dimensions["Metrics"], f"{where}.Dimensions.Metrics").items():
            at = f"{where}.Dimensions.Metrics.{name}"
            metric = _object(raw, at)
            operator = _enum(metric.get("ComparisonOperator"), f"{at}.ComparisonOperator", METRIC_OPERATORS)
            number = metric.get("Value")
            if not isinstance(number, int | float) or isinstance(number, bool):
                raise CampaignInvalid(f"{at}.Value must be a number.")
            out["Metrics"][name] = {"ComparisonOperator": operator, "Value": number}
    return {"FilterType": filter_type, "Dimensions": out}


def _push_message(value: object, where: str) -> dict[str, Any]:
    given = _object(value, where)
    out: dict[str, Any] = _strings(given, PUSH_STRINGS, where)
    if len(out.get("Body", "")) > PUSH_BODY_CHARS:
        raise CampaignInvalid(f"{where}.Body is {len(out['Body'])} characters long; the limit is {PUSH_BODY_CHARS}.")
    if given.get("Action") is not None:
        out["Action"] = _enum(given["Action"], f"{where}.Action", ("OPEN_APP", "DEEP_LINK", "URL"))
    if given.get("SilentPush") is not None:
        out["SilentPush"] = _boolean(given["SilentPush"], f"{where}.SilentPush")
    if given.get("TimeToLive") is not None:
        out["TimeToLive"] = _integer(given["TimeToLive"], f"{where}.TimeToLive", 0, MAX_INT32)
    for member in ("Title", "Body"):
        if out.get(member):
            _personalised(out[member], f"{where}.{member}")
    return out


def _email_message(value: object, where: str) -> dict[str, Any]:
    given = _object(value, where)
    out: dict[str, Any] = _strings(given, ("Body", "FromAddress", "HtmlBody", "Title"), where)
    if given.get("Headers") is not None:
        headers = given["Headers"]
        if not isinstance(headers, list):
            raise CampaignInvalid(f"{where}.Headers must be a list of {{Name, Value}} objects.")
        if len(headers) > MAX_EMAIL_HEADERS:
            raise CampaignInvalid(f"{where}.Headers has {len(headers)} headers; the limit is {MAX_EMAIL_HEADERS}.")
        out["Headers"] = []
        for i, raw in enumerate(headers):
            header = _object(raw, f"{where}.Headers[{i}]")
            name = _string(header.get("Name"), f"{where}.Headers[{i}].Name", limit=126)
            value = _string(header.get("Value"), f"{where}.Headers[{i}].Value", limit=870)
            if not name:
                raise CampaignInvalid(f"{where}.Headers[{i}].Name must not be empty.")
            _personalised(value, f"{where}.Headers[{i}].Value")
            out["Headers"].append({"Name": name, "Value": value})
    for member in ("Title", "Body", "HtmlBody"):
        if out.get(member):
            _personalised(out[member], f"{where}.{member}")
    return out


def _sms_message(value: object, where: str) -> dict[str, Any]:
    given = _object(value, where)
    out: dict[str, Any] = _strings(given, ("Body", "OriginationNumber", "SenderId", "EntityId", "TemplateId"), where)
    if given.get("MessageType") is not None:
        out["MessageType"] = _enum(given["MessageType"], f"{where}.MessageType", ("TRANSACTIONAL", "PROMOTIONAL"))
    if out.get("Body"):
        _personalised(out["Body"], f"{where}.Body")
    return out


def _custom_message(value: object, where: str) -> dict[str, Any]:
    given = _object(value, where)
    data = _string(given.get("Data") or "", f"{where}.Data")
    if len(data.encode()) > CUSTOM_DATA_BYTES:
        raise CampaignInvalid(f"{where}.Data is {len(data.encode())} bytes; the limit is 5 KB ({CUSTOM_DATA_BYTES}).")
    return {"Data": data} if "Data" in given else {}


def _inapp_message(value: object, where: str) -> dict[str, Any]:
    given = _object(value, where)
    try:
        out = inapp_content(given)
    except TemplateInvalid as error:
        raise CampaignInvalid(f"{where}: {error}") from None
    if given.get("Body") is not None:
        out["Body"] = _string(given["Body"], f"{where}.Body")
    return out


MESSAGE_CHECKS = {
    **dict.fromkeys(PUSH_MESSAGES, _push_message),
    "EmailMessage": _email_message,
    "SMSMessage": _sms_message,
    "CustomMessage": _custom_message,
    "InAppMessage": _inapp_message,
}


def _message_configuration(value: object, where: str) -> dict[str, Any]:
    given = _object(value, where)
    return {m: check(given[m], f"{where}.{m}") for m, check in MESSAGE_CHECKS.items() if given.get(m) is not None}


def _template_configuration(value: object, where: str) -> dict[str, Any]:
    given = _object(value, where)
    if given.get("VoiceTemplate") is not None:
        raise CampaignInvalid(f"{where}.VoiceTemplate isn't supported for campaigns.")
    out: dict[str, Any] = {}
    for member, template_type in TEMPLATE_MEMBERS.items():
        if given.get(member) is None:
            continue
        at = f"{where}.{member}"
        reference = _object(given[member], at)
        name = _string(reference.get("Name"), f"{at}.Name")
        template = MessageTemplate.objects.filter(name=name, template_type=template_type).first()
        if template is None:
            other = MessageTemplate.objects.filter(name=name).values_list("template_type", flat=True).first()
            kind = f" ({name} is a {other} template)" if other else ""
            raise CampaignInvalid(f"{at}: there is no {template_type} template named {name}{kind}.")
        kept = {"Name": name}
        if reference.get("Version") not in (None, ""):
            version = str(reference["Version"])
            if (
                not version.isascii()
                or not version.isdigit()
                or not template.versions.filter(version=int(version)).exists()
            ):
                raise CampaignInvalid(f"{at}.Version: template {name} has no version {version[:40]}.")
            kept["Version"] = version
        out[member] = kept
    return out


def _custom_delivery(value: object, where: str, *, checked: set[str]) -> dict[str, Any]:
    given = _object(value, where)
    uri = _string(given.get("DeliveryUri"), f"{where}.DeliveryUri")
    out: dict[str, Any] = {"DeliveryUri": uri}
    if given.get("EndpointTypes") is not None:
        types = given["EndpointTypes"]
        if not isinstance(types, list):
            raise CampaignInvalid(f"{where}.EndpointTypes must be a list of channel types.")
        out["EndpointTypes"] = [_enum(t, f"{where}.EndpointTypes", ENDPOINT_TYPES) for t in types]
    if uri not in checked:
        try:
            custom_uri_check(uri)
        except CustomUriInvalid as error:
            raise CampaignInvalid(f"{where}.DeliveryUri: {error}") from None
        checked.add(uri)
    return out


def _limits(value: object, where: str) -> dict[str, int]:
    given = _object(value, where)
    ranges = {
        "Daily": (0, 100),
        "MaximumDuration": (60, MAX_INT32),
        "MessagesPerSecond": (1, 20000),
        "Total": (0, 100),
        "Session": (0, MAX_INT32),
    }
    return {m: _integer(given[m], f"{where}.{m}", *r) for m, r in ranges.items() if given.get(m) is not None}


def _hook(value: object, where: str) -> dict[str, str]:
    given = _object(value, where)
    out = {m: v for m, v in _strings(given, ("LambdaFunctionName", "Mode", "WebUrl"), where).items() if v}
    if out.get("Mode"):
        _enum(out["Mode"], f"{where}.Mode", ("FILTER", "DELIVERY"))
        if out["Mode"] == "DELIVERY":
            raise CampaignInvalid(
                f"{where}.Mode DELIVERY is no longer supported (Pinpoint deprecated it): use FILTER, or "
                "CustomDeliveryConfiguration to send through a webhook."
            )
    if out.get("LambdaFunctionName") and not out.get("WebUrl"):
        raise CampaignInvalid(
            f"{where}: Engage calls campaign hooks over HTTPS only: give WebUrl (AWS Lambda is not supported)."
        )
    if out.get("WebUrl"):
        try:
            check_url(out["WebUrl"])
        except UrlRefused as error:
            raise CampaignInvalid(f"{where}.WebUrl: {error}") from None
    return out


# --- the whole request ---------------------------------------------------------------------------


def _uris_of(definition: Mapping[str, Any]) -> set[str]:
    parts = [definition, *(definition.get("AdditionalTreatments") or [])]
    return {p["CustomDeliveryConfiguration"]["DeliveryUri"] for p in parts if p.get("CustomDeliveryConfiguration")}


def _treatment_members(given: Mapping[str, Any], where: str, *, now: datetime, checked: set[str]) -> dict[str, Any]:
    """The overridable members and the treatment's name/description, checked."""
    out: dict[str, Any] = _strings(given, ("TreatmentName", "TreatmentDescription"), where)
    if given.get("Schedule") is not None:
        out["Schedule"] = _schedule(given["Schedule"], _at(where, "Schedule"), now=now)
    if given.get("MessageConfiguration") is not None:
        out["MessageConfiguration"] = _message_configuration(
            given["MessageConfiguration"], _at(where, "MessageConfiguration")
        )
    if given.get("TemplateConfiguration") is not None:
        out["TemplateConfiguration"] = _template_configuration(
            given["TemplateConfiguration"], _at(where, "TemplateConfiguration")
        )
    if given.get("CustomDeliveryConfiguration") is not None:
        out["CustomDeliveryConfiguration"] = _custom_delivery(
            given["CustomDeliveryConfiguration"], _at(where, "CustomDeliveryConfiguration"), checked=checked
        )
    return out


def _check_treatment_content(treatment: Mapping[str, Any], where: str, frequency: str) -> None:
    """What a treatment sends (its own members or the campaign's) must make sense for the campaign."""
    messages = treatment.get("MessageConfiguration") or {}
    templates = treatment.get("TemplateConfiguration") or {}
    if not messages and not templates:
        raise CampaignInvalid(f"{where} needs a MessageConfiguration or a TemplateConfiguration.")
    if "CustomMessage" in messages and not treatment.get("CustomDeliveryConfiguration"):
        raise CampaignInvalid(f"{where}: a CustomMessage needs a CustomDeliveryConfiguration (where to deliver it).")
    in_app = "InAppMessage" in messages or "InAppTemplate" in templates
    others = [m for m in messages if m != "InAppMessage"] + [t for t in templates if t != "InAppTemplate"]
    if frequency == Frequency.IN_APP_EVENT:
        if not in_app:
            raise CampaignInvalid(f"{where}: an IN_APP_EVENT campaign needs an InAppMessage or an InAppTemplate.")
        if others:
            raise CampaignInvalid(f"{where}: an IN_APP_EVENT campaign sends in-app messages only, not {others[0]}.")
    elif in_app:
        raise CampaignInvalid(
            f"{where}: in-app messages go only in campaigns whose Schedule.Frequency is IN_APP_EVENT."
        )


def _segment_of(project: Project, definition: Mapping[str, Any]) -> Segment:
    segment_id = _string(definition.get("SegmentId"), "SegmentId") if definition.get("SegmentId") else ""
    if not segment_id:
        raise CampaignInvalid("SegmentId is required: the segment the campaign sends to.")
    segment = Segment.objects.filter(project=project, pk=segment_id).first()
    if segment is None:
        raise CampaignInvalid(f"SegmentId: there is no segment {segment_id[:64]} in this project.")
    version = definition.get("SegmentVersion")
    number = None if version is None else _integer(version, "SegmentVersion", 1, MAX_INT32)
    known = number is None or number == segment.version
    if not known and (
        segment.segment_type == SegmentType.IMPORT
        or not SegmentVersion.objects.filter(segment=segment, version=number).exists()
    ):
        raise CampaignInvalid(f"SegmentVersion: segment {segment_id} has no version {number}.")
    return segment


def _definition(
    project: Project, request: Mapping[str, Any], *, previous: Mapping[str, Any], now: datetime
) -> tuple[dict[str, Any], Segment]:
    """The campaign definition `request` makes (merged over `previous`), fully checked, and its segment."""
    if not isinstance(request, Mapping):
        raise CampaignInvalid("The request body must be a WriteCampaignRequest object.")
    merged = {**previous, **{m: request[m] for m in REQUEST_MEMBERS if m in request}}
    merged = {m: value for m, value in merged.items() if value is not None}  # null removes a member
    if request.get("SegmentId") is not None and request.get("SegmentVersion") is None:
        merged.pop("SegmentVersion", None)  # a new segment is followed at its latest version
    if merged.get("Schedule") is None:
        raise CampaignInvalid("Schedule is required (at least its StartTime).")
    out: dict[str, Any] = {}
    if merged.get("SegmentVersion") is not None:
        out["SegmentVersion"] = merged["SegmentVersion"]
    out["SegmentId"] = merged.get("SegmentId")
    segment = _segment_of(project, out)  # cheap checks first: the HEAD checks below make requests
    out.update(_strings(merged, ("Name", "Description"), ""))
    if len(out.get("Name", "")) > 256:
        raise CampaignInvalid("Name is longer than 256 characters.")
    checked = _uris_of(previous)
    out.update(_treatment_members(merged, "", now=now, checked=checked))
    frequency = out["Schedule"].get("Frequency") or Frequency.ONCE
    if merged.get("Limits") is not None:
        out["Limits"] = _limits(merged["Limits"], "Limits")
    if merged.get("Hook") is not None:
        out["Hook"] = _hook(merged["Hook"], "Hook")
    if merged.get("IsPaused") is not None:
        out["IsPaused"] = _boolean(merged["IsPaused"], "IsPaused")
        if out["IsPaused"] and out["Schedule"]["StartTime"] == sched.IMMEDIATE:
            raise CampaignInvalid("A campaign that starts IMMEDIATE cannot be paused.")
    if merged.get("Priority") is not None:
        out["Priority"] = _integer(merged["Priority"], "Priority", 1, 5)
    holdout = 0
    if merged.get("HoldoutPercent") is not None:
        holdout = out["HoldoutPercent"] = _integer(merged["HoldoutPercent"], "HoldoutPercent", 0, 100)
    if merged.get("AdditionalTreatments") is not None:
        given = merged["AdditionalTreatments"]
        if not isinstance(given, list):
            raise CampaignInvalid("AdditionalTreatments must be a list of treatments.")
        if len(given) > MAX_TREATMENTS:
            raise CampaignInvalid(f"A campaign has at most {MAX_TREATMENTS} AdditionalTreatments (5 treatments).")
        treatments = []
        for i, raw in enumerate(given):
            where = f"AdditionalTreatments[{i}]"
            treatment = _object(raw, where)
            size = _integer(treatment.get("SizePercent"), f"{where}.SizePercent", 1, 100)
            members = _treatment_members(treatment, where, now=now, checked=checked)
            if "Schedule" in members and (members["Schedule"].get("Frequency") or Frequency.ONCE) != frequency:
                raise CampaignInvalid(f"{where}.Schedule.Frequency must be the campaign's ({frequency}).")
            treatments.append({"Id": str(i + 1), "SizePercent": size, **members})
        out["AdditionalTreatments"] = treatments
        total = holdout + sum(t["SizePercent"] for t in treatments)
        if total > 100:
            raise CampaignInvalid(
                f"HoldoutPercent plus the treatments' SizePercent make {total}%; together they must not exceed 100."
            )
    for treatment in allocation_of(out):
        where = "The campaign" if treatment["Id"] == "0" else f"AdditionalTreatments[{int(treatment['Id']) - 1}]"
        _check_treatment_content(treatment, where, frequency)
    if frequency == Frequency.EVENT and segment.segment_type != SegmentType.DIMENSIONAL:
        raise CampaignInvalid(f"An EVENT campaign needs a dynamic segment; {segment.id} is an imported segment.")
    return out, segment


# --- saving --------------------------------------------------------------------------------------


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
    definition, segment = _definition(project, request, previous={}, now=now)
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
    definition, segment = _definition(campaign.project, request, previous=campaign.definition, now=now)
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


# --- responses -----------------------------------------------------------------------------------


def campaign_arn(campaign: Campaign) -> str:
    return (
        f"arn:aws:mobiletargeting:{settings.ENGAGE_REGION}:{settings.ENGAGE_ACCOUNT_ID}:"
        f"apps/{campaign.project_id}/campaigns/{campaign.pk}"
    )


def campaign_response(campaign: Campaign, *, version: CampaignVersion | None = None) -> dict[str, Any]:
    """CampaignResponse of the campaign now, or of one of its stored versions (select_related
    "segment" when answering many)."""
    definition = version.definition if version is not None else campaign.definition
    state = {"CampaignStatus": campaign.state}
    segment_version = definition.get("SegmentVersion")
    if segment_version is None:
        segment_version = campaign.segment.version if campaign.segment_id else 1
    body: dict[str, Any] = {
        "ApplicationId": campaign.project_id,
        "Arn": campaign_arn(campaign),
        "CreationDate": iso8601(campaign.creation_date),
        "Id": campaign.pk,
        "LastModifiedDate": iso8601(version.creation_date if version is not None else campaign.last_modified_date),
        "HoldoutPercent": 0,
        "IsPaused": False,
        **{k: v for k, v in definition.items() if k != "AdditionalTreatments"},
        "SegmentId": definition.get("SegmentId") or campaign.segment_id or "",
        "SegmentVersion": segment_version,
        "State": state,
        "Version": version.version if version is not None else campaign.version,
        "tags": campaign.tags,
        "AdditionalTreatments": [{**t, "State": state} for t in definition.get("AdditionalTreatments") or []],
    }
    if body["AdditionalTreatments"]:
        body["DefaultState"] = state
    return body


def activity_response(activity: CampaignActivity) -> dict[str, Any]:
    """ActivityResponse of one treatment's share of a run (reads activity.campaign.project_id)."""
    body: dict[str, Any] = {
        "ApplicationId": activity.campaign.project_id,
        "CampaignId": activity.campaign_id,
        "Id": activity.pk,
        "TreatmentId": activity.treatment_id,
        "State": activity.state,
        "ScheduledStart": iso8601(activity.scheduled_start),
        "SuccessfulEndpointCount": activity.successful_endpoint_count,
        "TotalEndpointCount": activity.total_endpoint_count,
        "TimezonesCompletedCount": activity.timezones_completed_count,
        "TimezonesTotalCount": activity.timezones_total_count,
        "ExecutionMetrics": {str(k): str(v) for k, v in (activity.execution_metrics or {}).items()},
    }
    if activity.result:
        body["Result"] = activity.result
    if activity.start is not None:
        body["Start"] = iso8601(activity.start)
    if activity.end is not None:
        body["End"] = iso8601(activity.end)
    return body


def treatments_of(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """campaigns.treatments.treatments_of (Id, SizePercent, Cohorts and the effective members), each
    treatment with its TreatmentName and TreatmentDescription when set (the campaign's for "0")."""
    own = {"0": definition, **{str(t.get("Id")): t for t in definition.get("AdditionalTreatments") or []}}
    names = ("TreatmentName", "TreatmentDescription")
    return [{**t, **{m: own[t["Id"]][m] for m in names if m in own[t["Id"]]}} for t in allocation_of(definition)]
