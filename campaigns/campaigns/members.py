"""The members of a WriteCampaignRequest (and of each treatment) checked one by one: Schedule (with its
EventFilter), MessageConfiguration, TemplateConfiguration, CustomDeliveryConfiguration, Limits and
Hook. Each check_* returns the member as the campaign stores it, or raises CampaignInvalid."""

from datetime import datetime
from typing import Any

from audience.compiler import ATTRIBUTE_TYPES, METRIC_OPERATORS
from audience.models import ChannelType
from campaigns import schedule as sched
from campaigns.campaigns.values import (
    MAX_INT32,
    CampaignInvalid,
    boolean,
    enum,
    integer,
    obj,
    personalised,
    string,
    string_list,
    strings,
)
from campaigns.models import Frequency, TemplateType
from campaigns.templates import TemplateInvalid, inapp_template_content, template_reference_problem
from campaigns.transports.custom import CustomUriInvalid, custom_uri_check
from engage.webhooks import UrlRefused, check_url

CUSTOM_DATA_BYTES = 5 * 1024
PUSH_BODY_CHARS = 200
MAX_EMAIL_HEADERS = 15
TRIGGERED = (Frequency.EVENT, Frequency.IN_APP_EVENT)
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
ENDPOINT_TYPES = tuple(ChannelType.values)  # CustomDeliveryConfiguration.EndpointTypes


def check_schedule(value: object, where: str, *, now: datetime) -> dict[str, Any]:
    given = obj(value, where)
    out: dict[str, Any] = {}
    start = given.get("StartTime")
    if start in (None, ""):
        raise CampaignInvalid(f"{where}.StartTime is required: IMMEDIATE or an ISO-8601 time.")
    out["StartTime"] = string(start, f"{where}.StartTime")
    if given.get("Timezone") is not None:
        out["Timezone"] = enum(given["Timezone"], f"{where}.Timezone", sched.TIMEZONES)
    zone = sched.offset_of(out.get("Timezone") or "UTC")
    try:
        begins = now if start == sched.IMMEDIATE else sched.parse_instant(start, tz=zone, where=f"{where}.StartTime")
        if given.get("EndTime") is not None:
            out["EndTime"] = string(given["EndTime"], f"{where}.EndTime")
            if sched.parse_instant(out["EndTime"], tz=zone, where=f"{where}.EndTime") <= begins:
                raise CampaignInvalid(f"{where}.EndTime must be after the StartTime.")
    except sched.ScheduleInvalid as error:
        raise CampaignInvalid(str(error)) from None
    if given.get("Frequency") is not None:
        out["Frequency"] = enum(given["Frequency"], f"{where}.Frequency", Frequency.values)
    frequency = out.get("Frequency") or Frequency.ONCE
    if frequency == Frequency.EVENT and start == sched.IMMEDIATE:
        raise CampaignInvalid(f"An EVENT campaign cannot start IMMEDIATE: give {where}.StartTime as a time.")
    if given.get("IsLocalTime") is not None:
        out["IsLocalTime"] = boolean(given["IsLocalTime"], f"{where}.IsLocalTime")
    if given.get("QuietTime") is not None:
        quiet = obj(given["QuietTime"], f"{where}.QuietTime")
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
    given = obj(value, where)
    filter_type = enum(given.get("FilterType"), f"{where}.FilterType", ("SYSTEM", "ENDPOINT"))
    dimensions = obj(given.get("Dimensions"), f"{where}.Dimensions")
    out: dict[str, Any] = {}
    event_type = obj(dimensions.get("EventType"), f"{where}.Dimensions.EventType")
    out["EventType"] = {"Values": string_list(event_type.get("Values"), f"{where}.Dimensions.EventType.Values")}
    if event_type.get("DimensionType") is not None:
        out["EventType"]["DimensionType"] = enum(
            event_type["DimensionType"], f"{where}.Dimensions.EventType.DimensionType", ("INCLUSIVE", "EXCLUSIVE")
        )
    if dimensions.get("Attributes") is not None:
        out["Attributes"] = {}
        for name, raw in obj(dimensions["Attributes"], f"{where}.Dimensions.Attributes").items():
            at = f"{where}.Dimensions.Attributes.{name}"
            attribute = obj(raw, at)
            kept: dict[str, Any] = {"Values": string_list(attribute.get("Values"), f"{at}.Values")}
            if attribute.get("AttributeType") is not None:
                kept["AttributeType"] = enum(attribute["AttributeType"], f"{at}.AttributeType", ATTRIBUTE_TYPES)
            out["Attributes"][name] = kept
    if dimensions.get("Metrics") is not None:
        out["Metrics"] = {}
        for name, raw in obj(dimensions["Metrics"], f"{where}.Dimensions.Metrics").items():
            at = f"{where}.Dimensions.Metrics.{name}"
            metric = obj(raw, at)
            operator = enum(metric.get("ComparisonOperator"), f"{at}.ComparisonOperator", METRIC_OPERATORS)
            number = metric.get("Value")
            if not isinstance(number, int | float) or isinstance(number, bool):
                raise CampaignInvalid(f"{at}.Value must be a number.")
            out["Metrics"][name] = {"ComparisonOperator": operator, "Value": number}
    return {"FilterType": filter_type, "Dimensions": out}


def _push_message(value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    out: dict[str, Any] = strings(given, PUSH_STRINGS, where)
    if len(out.get("Body", "")) > PUSH_BODY_CHARS:
        raise CampaignInvalid(f"{where}.Body is {len(out['Body'])} characters long; the limit is {PUSH_BODY_CHARS}.")
    if given.get("Action") is not None:
        out["Action"] = enum(given["Action"], f"{where}.Action", ("OPEN_APP", "DEEP_LINK", "URL"))
    if given.get("SilentPush") is not None:
        out["SilentPush"] = boolean(given["SilentPush"], f"{where}.SilentPush")
    if given.get("TimeToLive") is not None:
        out["TimeToLive"] = integer(given["TimeToLive"], f"{where}.TimeToLive", 0, MAX_INT32)
    for member in ("Title", "Body"):
        if out.get(member):
            personalised(out[member], f"{where}.{member}")
    return out


def _email_message(value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    out: dict[str, Any] = strings(given, ("Body", "FromAddress", "HtmlBody", "Title"), where)
    if given.get("Headers") is not None:
        headers = given["Headers"]
        if not isinstance(headers, list):
            raise CampaignInvalid(f"{where}.Headers must be a list of {{Name, Value}} objects.")
        if len(headers) > MAX_EMAIL_HEADERS:
            raise CampaignInvalid(f"{where}.Headers has {len(headers)} headers; the limit is {MAX_EMAIL_HEADERS}.")
        out["Headers"] = []
        for i, raw in enumerate(headers):
            header = obj(raw, f"{where}.Headers[{i}]")
            name = string(header.get("Name"), f"{where}.Headers[{i}].Name", limit=126)
            value = string(header.get("Value"), f"{where}.Headers[{i}].Value", limit=870)
            if not name:
                raise CampaignInvalid(f"{where}.Headers[{i}].Name must not be empty.")
            personalised(value, f"{where}.Headers[{i}].Value")
            out["Headers"].append({"Name": name, "Value": value})
    for member in ("Title", "Body", "HtmlBody"):
        if out.get(member):
            personalised(out[member], f"{where}.{member}")
    return out


def _sms_message(value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    out: dict[str, Any] = strings(given, ("Body", "OriginationNumber", "SenderId", "EntityId", "TemplateId"), where)
    if given.get("MessageType") is not None:
        out["MessageType"] = enum(given["MessageType"], f"{where}.MessageType", ("TRANSACTIONAL", "PROMOTIONAL"))
    if out.get("Body"):
        personalised(out["Body"], f"{where}.Body")
    return out


def _custom_message(value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    data = string(given.get("Data") or "", f"{where}.Data")
    if len(data.encode()) > CUSTOM_DATA_BYTES:
        raise CampaignInvalid(f"{where}.Data is {len(data.encode())} bytes; the limit is 5 KB ({CUSTOM_DATA_BYTES}).")
    return {"Data": data} if "Data" in given else {}


def _inapp_message(value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    try:
        out = inapp_template_content(given)
    except TemplateInvalid as error:
        raise CampaignInvalid(f"{where}: {error}") from None
    if given.get("Body") is not None:
        out["Body"] = string(given["Body"], f"{where}.Body")
    return out


MESSAGE_CHECKS = {
    **dict.fromkeys(PUSH_MESSAGES, _push_message),
    "EmailMessage": _email_message,
    "SMSMessage": _sms_message,
    "CustomMessage": _custom_message,
    "InAppMessage": _inapp_message,
}


def check_message_configuration(value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    return {m: check(given[m], f"{where}.{m}") for m, check in MESSAGE_CHECKS.items() if given.get(m) is not None}


def check_template_configuration(value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    if given.get("VoiceTemplate") is not None:
        raise CampaignInvalid(f"{where}.VoiceTemplate isn't supported for campaigns.")
    out: dict[str, Any] = {}
    for member, template_type in TEMPLATE_MEMBERS.items():
        if given.get(member) is None:
            continue
        at = f"{where}.{member}"
        reference = obj(given[member], at)
        name = string(reference.get("Name"), f"{at}.Name")
        version = None if reference.get("Version") in (None, "") else str(reference["Version"])
        problem = template_reference_problem(template_type, name, version)
        if problem is not None:
            raise CampaignInvalid(f"{at}{'.Version' if problem[0] == 'version' else ''}: {problem[1]}")
        out[member] = {"Name": name, **({"Version": version} if version is not None else {})}
    return out


def check_custom_delivery(value: object, where: str, *, checked: set[str]) -> dict[str, Any]:
    given = obj(value, where)
    uri = string(given.get("DeliveryUri"), f"{where}.DeliveryUri")
    out: dict[str, Any] = {"DeliveryUri": uri}
    if given.get("EndpointTypes") is not None:
        types = given["EndpointTypes"]
        if not isinstance(types, list):
            raise CampaignInvalid(f"{where}.EndpointTypes must be a list of channel types.")
        out["EndpointTypes"] = [enum(t, f"{where}.EndpointTypes", ENDPOINT_TYPES) for t in types]
    if uri not in checked:
        try:
            custom_uri_check(uri)
        except CustomUriInvalid as error:
            raise CampaignInvalid(f"{where}.DeliveryUri: {error}") from None
        checked.add(uri)
    return out


def check_limits(value: object, where: str) -> dict[str, int]:
    given = obj(value, where)
    ranges = {
        "Daily": (0, 100),
        "MaximumDuration": (60, MAX_INT32),
        "MessagesPerSecond": (1, 20000),
        "Total": (0, 100),
        "Session": (0, MAX_INT32),
    }
    return {m: integer(given[m], f"{where}.{m}", *r) for m, r in ranges.items() if given.get(m) is not None}


def check_hook(value: object, where: str) -> dict[str, str]:
    given = obj(value, where)
    out = {m: v for m, v in strings(given, ("LambdaFunctionName", "Mode", "WebUrl"), where).items() if v}
    if out.get("Mode"):
        enum(out["Mode"], f"{where}.Mode", ("FILTER", "DELIVERY"))
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
