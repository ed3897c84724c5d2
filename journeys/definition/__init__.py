"""A journey's definition (Pinpoint's WriteJourneyRequest members) checked: every member's shape
always, and, when publishing, whether the activities make a journey that can run (`graph`).

`journey_validate` answers every problem found as (activity id or "", message) pairs; the journey
services refuse a request with any (JourneyInvalid, answered 400). Drafts may be incomplete (no
start, dangling branches, percentages not yet adding up), as in Pinpoint's console; a member of the
wrong type or out of Pinpoint's bounds is refused even in a draft.
"""

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from audience.models import SegmentType
from campaigns import schedule as sched
from journeys.definition import activities as act
from journeys.definition.activities import activity_targets, activity_type
from journeys.definition.graph import graph_errors
from journeys.definition.values import (
    TIMEZONES,
    Bad,
    boolean,
    duration,
    enum,
    hh_mm,
    instant,
    integer,
    listed,
    obj,
    parse_duration,
    string,
    time_string,
    timestamp,
)
from projects.models import Project

MAX_ACTIVITIES = 40  # Pinpoint's default quota per journey
NAME_LIMIT = 150
ACTIVITY_ID = re.compile(r"^[A-Za-z0-9]{1,100}$")
CHANNELS = ("EMAIL", "SMS", "PUSH", "VOICE", "CUSTOM")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MAX_OPEN_HOURS_PER_DAY = 4
MAX_CLOSED_DAYS = 20
MIN_REFRESH = timedelta(hours=1)
# The WriteJourneyRequest members kept in Journey.definition (State is a column; tags and the
# dates are the server's).
MEMBERS = (
    "Name",
    "Activities",
    "StartActivity",
    "StartCondition",
    "Schedule",
    "LocalTime",
    "Limits",
    "QuietTime",
    "WaitForQuietTime",
    "RefreshFrequency",
    "RefreshOnSegmentUpdate",
    "JourneyChannelSettings",
    "SendingSchedule",
    "OpenHours",
    "ClosedDays",
    "TimezoneEstimationMethods",
)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@-]+$")

Errors = list[tuple[str, str]]
__all__ = [
    "MEMBERS",
    "JourneyInvalid",
    "activity_targets",
    "activity_type",
    "definition_check",
    "describe",
    "journey_validate",
    "parse_duration",
]


class JourneyInvalid(Exception):
    """A journey request Engage refuses (400); `errors` lists (activity id or "", message)."""

    def __init__(self, errors: Errors) -> None:
        self.errors = list(errors)
        super().__init__(describe(self.errors))


def describe(errors: Errors) -> str:
    """The errors as one message: "Activity a1: EMAIL.TemplateName ...; Name is required."""
    return " ".join(f"Activity {a}: {m}" if a else m for a, m in errors)


# --- the journey's own members -------------------------------------------------------------------


def _name(value: object) -> str:
    if value in (None, ""):
        raise Bad("Name is required.")
    name = string(value, "Name", limit=NAME_LIMIT)
    if any(c.isspace() for c in name):
        raise Bad("Name can't contain spaces (Pinpoint's rule): use letters, digits and symbols such as _ or -.")
    return name


def _schedule(value: object) -> dict[str, Any]:
    given = obj(value, "Schedule")
    out: dict[str, Any] = {}
    if given.get("Timezone") not in (None, ""):
        out["Timezone"] = enum(given["Timezone"], "Schedule.Timezone", TIMEZONES)
    zone = sched.offset_of(out.get("Timezone") or "UTC")
    for member in ("StartTime", "EndTime"):
        if given.get(member) not in (None, ""):
            out[member] = timestamp(given[member], f"Schedule.{member}", tz=zone)
    if "StartTime" in out and "EndTime" in out and instant(out["EndTime"], "") <= instant(out["StartTime"], ""):
        raise Bad("Schedule.EndTime must be after Schedule.StartTime.")
    return out


def _start_condition(value: object, context: act.Context) -> dict[str, Any]:
    given = obj(value, "StartCondition")
    out: dict[str, Any] = {}
    if given.get("Description") is not None:
        out["Description"] = string(given["Description"], "StartCondition.Description", limit=1000)
    kinds = [k for k in ("SegmentStartCondition", "EventStartCondition") if given.get(k) is not None]
    if len(kinds) > 1:
        raise Bad("StartCondition has either a SegmentStartCondition or an EventStartCondition, not both.")
    if not kinds:
        return out
    if kinds[0] == "SegmentStartCondition":
        segment = obj(given["SegmentStartCondition"], "StartCondition.SegmentStartCondition")
        where = "StartCondition.SegmentStartCondition.SegmentId"
        out["SegmentStartCondition"] = {"SegmentId": act.segment_reference(segment.get("SegmentId"), where, context)}
        return out
    event = obj(given["EventStartCondition"], "StartCondition.EventStartCondition")
    kept: dict[str, Any] = {
        "EventFilter": act.event_filter(event.get("EventFilter"), "StartCondition.EventStartCondition.EventFilter")
    }
    if event.get("SegmentId") not in (None, ""):
        where = "StartCondition.EventStartCondition.SegmentId"
        segment_id = act.segment_reference(event["SegmentId"], where, context)
        if context.segment(segment_id).segment_type != SegmentType.DIMENSIONAL:  # type: ignore[union-attr]
            raise Bad(f"{where}: an event-started journey needs a dynamic segment; {segment_id} is imported.")
        kept["SegmentId"] = segment_id
    out["EventStartCondition"] = kept
    return out


def _limits(value: object) -> dict[str, Any]:
    given = obj(value, "Limits")
    bounds = {
        "DailyCap": (0, 100),
        "EndpointReentryCap": (0, 100),
        "MessagesPerSecond": (1, 20000),
        "TotalCap": (0, 100),
    }
    out: dict[str, Any] = {
        m: integer(given[m], f"Limits.{m}", *r) for m, r in bounds.items() if given.get(m) is not None
    }
    if given.get("EndpointReentryInterval") not in (None, ""):
        out["EndpointReentryInterval"] = duration(given["EndpointReentryInterval"], "Limits.EndpointReentryInterval")
    if given.get("TimeframeCap") is not None:
        cap = obj(given["TimeframeCap"], "Limits.TimeframeCap")
        out["TimeframeCap"] = {
            m: integer(cap[m], f"Limits.TimeframeCap.{m}", 0, high)
            for m, high in (("Cap", 100), ("Days", 30))
            if cap.get(m) is not None
        }
    return out


def _quiet_time(value: object) -> dict[str, str]:
    given = obj(value, "QuietTime")
    if given.get("Start") in (None, "") and given.get("End") in (None, ""):
        return {}
    return {m: hh_mm(given.get(m), f"QuietTime.{m}") for m in ("Start", "End")}


def _open_hours(value: object) -> dict[str, Any]:
    given = obj(value, "OpenHours")
    out: dict[str, Any] = {}
    for channel, days in given.items():
        where = f"OpenHours.{channel}"
        enum(channel, "OpenHours' channels", CHANNELS)
        out[channel] = {}
        for day, rules in obj(days, where).items():
            enum(day, f"{where}'s days", DAYS)
            rules = listed(rules, f"{where}.{day}")
            if len(rules) > MAX_OPEN_HOURS_PER_DAY:
                raise Bad(f"{where}.{day} has {len(rules)} ranges; the limit is {MAX_OPEN_HOURS_PER_DAY} a day.")
            kept = []
            for i, raw in enumerate(rules):
                rule = obj(raw, f"{where}.{day}[{i}]")
                start = hh_mm(rule.get("StartTime"), f"{where}.{day}[{i}].StartTime")
                end = hh_mm(rule.get("EndTime"), f"{where}.{day}[{i}].EndTime")
                if end <= start:
                    raise Bad(f"{where}.{day}[{i}].EndTime must be after its StartTime.")
                kept.append({"StartTime": start, "EndTime": end})
            out[channel][day] = kept
    return out


def _closed_days(value: object) -> dict[str, Any]:
    given = obj(value, "ClosedDays")
    out: dict[str, Any] = {}
    for channel, rules in given.items():
        where = f"ClosedDays.{channel}"
        enum(channel, "ClosedDays' channels", CHANNELS)
        rules = listed(rules, where)
        if len(rules) > MAX_CLOSED_DAYS:
            raise Bad(f"{where} has {len(rules)} rules; the limit is {MAX_CLOSED_DAYS}.")
        kept = []
        for i, raw in enumerate(rules):
            rule = obj(raw, f"{where}[{i}]")
            entry: dict[str, str] = {}
            if rule.get("Name") is not None:
                entry["Name"] = string(rule["Name"], f"{where}[{i}].Name", limit=255)
            for member in ("StartDateTime", "EndDateTime"):
                entry[member] = time_string(rule.get(member), f"{where}[{i}].{member}")
            if instant(entry["EndDateTime"], "") <= instant(entry["StartDateTime"], ""):
                raise Bad(f"{where}[{i}].EndDateTime must be after its StartDateTime.")
            kept.append(entry)
        out[channel] = kept
    return out


def _channel_settings(value: object) -> dict[str, str]:
    given = obj(value, "JourneyChannelSettings")
    out = {
        m: string(given[m], f"JourneyChannelSettings.{m}", limit=2048)
        for m in ("ConnectCampaignArn", "ConnectCampaignExecutionRoleArn")
        if given.get(m) not in (None, "")
    }
    role = out.get("ConnectCampaignExecutionRoleArn")
    if role and not ROLE_ARN.match(role):
        raise Bad("JourneyChannelSettings.ConnectCampaignExecutionRoleArn must be an IAM role ARN without a path.")
    return out


def _estimation_methods(value: object) -> list[str]:
    methods = listed(value, "TimezoneEstimationMethods")
    out = [enum(m, "TimezoneEstimationMethods", ("PHONE_NUMBER", "POSTAL_CODE")) for m in methods]
    if len(set(out)) != len(out):
        raise Bad("TimezoneEstimationMethods lists a method twice.")
    return out


def _activities(value: object, context: act.Context, errors: Errors) -> dict[str, Any]:
    given = obj(value, "Activities")
    if len(given) > MAX_ACTIVITIES:
        errors.append(("", f"A journey has at most {MAX_ACTIVITIES} activities; this one has {len(given)}."))
    out: dict[str, Any] = {}
    for activity_id, raw in given.items():
        if not isinstance(activity_id, str) or not ACTIVITY_ID.match(activity_id):
            errors.append(("", f"Activity id {str(activity_id)[:110]!r} must be 1 to 100 letters and digits."))
            continue
        out[activity_id] = act.activity(raw, context, lambda message, a=activity_id: errors.append((a, message)))
    return out


# --- the whole definition ------------------------------------------------------------------------


def definition_check(
    request: Mapping[str, Any], *, project: Project, publishing: bool, checked_uris: set[str] | None = None
) -> tuple[dict[str, Any], Errors]:
    """The definition `request` makes (its WriteJourneyRequest members as stored) and every problem
    found; with `publishing`, also whether it can run. `checked_uris`: webhooks already HEAD-checked."""
    if not isinstance(request, Mapping):
        return {}, [("", "The request body must be a WriteJourneyRequest object.")]
    context = act.Context(project, checked_uris=set(checked_uris or ()))
    errors: Errors = []
    out: dict[str, Any] = {}
    given = {m: request[m] for m in MEMBERS if request.get(m) is not None}
    simple = {
        "Name": _name,
        "StartActivity": lambda v: string(v, "StartActivity", limit=128),
        "Schedule": _schedule,
        "LocalTime": lambda v: boolean(v, "LocalTime"),
        "Limits": _limits,
        "QuietTime": _quiet_time,
        "WaitForQuietTime": lambda v: boolean(v, "WaitForQuietTime"),
        "RefreshFrequency": lambda v: duration(v, "RefreshFrequency", minimum=MIN_REFRESH),
        "RefreshOnSegmentUpdate": lambda v: boolean(v, "RefreshOnSegmentUpdate"),
        "JourneyChannelSettings": _channel_settings,
        "SendingSchedule": lambda v: boolean(v, "SendingSchedule"),
        "OpenHours": _open_hours,
        "ClosedDays": _closed_days,
        "TimezoneEstimationMethods": _estimation_methods,
        "StartCondition": lambda v: _start_condition(v, context),
    }
    if "Name" not in given:
        errors.append(("", "Name is required."))
    for member, check in simple.items():
        if member in given:
            try:
                out[member] = check(given[member])
            except Bad as error:
                errors.append(("", str(error)))
    if "Activities" in given:
        try:
            out["Activities"] = _activities(given["Activities"], context, errors)
        except Bad as error:
            errors.append(("", str(error)))
    errors.extend(("", m) for m in _together(out))
    if publishing:
        malformed = {a for a, _ in errors if a}
        refused = {m for m in given if m not in out}  # sent but refused: already reported
        graph_errors(out, lambda activity_id, message: errors.append((activity_id, message)), skip=malformed | refused)
    return out, errors


def _together(out: Mapping[str, Any]) -> list[str]:
    """Rules between members."""
    problems = []
    if out.get("LocalTime") and "EventStartCondition" in (out.get("StartCondition") or {}):
        problems.append("LocalTime is not supported for journeys started by an event (EventStartCondition).")
    if out.get("RefreshOnSegmentUpdate") and not out.get("RefreshFrequency"):
        problems.append("RefreshOnSegmentUpdate needs a RefreshFrequency (the segment refresh interval).")
    if out.get("SendingSchedule") and not out.get("QuietTime"):
        problems.append("SendingSchedule needs QuietTime to be set first.")
    for member in ("OpenHours", "ClosedDays"):
        if out.get(member) and not out.get("SendingSchedule"):
            problems.append(f"{member} needs SendingSchedule set to true (and QuietTime).")
    return problems


def journey_validate(definition: Mapping[str, Any], *, project: Project, publishing: bool) -> Errors:
    """Every problem of a journey definition, as (activity id or "", message); [] when it is fine.
    With `publishing`, also the graph: one start, targets that exist, reachability, no loops,
    branch percentages, complete activities. Webhook DeliveryUris are HEAD-checked."""
    return definition_check(definition, project=project, publishing=publishing)[1]
