"""One journey activity checked member by member (the shape botocore's model gives `Activity`), and
the conditions splits evaluate. Whether the activities form a journey (one start, every target
there, no loops) is `graph`'s business, asked only when publishing."""

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.utils import timezone

from audience.compiler import ATTRIBUTE_TYPES, METRIC_OPERATORS, SegmentInvalid, compile_dimensions
from audience.models import ChannelType, Segment
from campaigns.models import TemplateType
from campaigns.templates import template_reference_problem
from campaigns.transports.custom import CustomUriInvalid, custom_uri_check
from journeys.definition.values import (
    Bad,
    at,
    duration,
    enum,
    integer,
    listed,
    obj,
    string,
    time_string,
)
from projects.models import Project

MESSAGE_TYPES = ("EMAIL", "SMS", "PUSH", "CUSTOM")
ACTIVITY_TYPES = (*MESSAGE_TYPES, "Wait", "ConditionalSplit", "MultiCondition", "RandomSplit", "Holdout")
UNSUPPORTED = ("ContactCenter",)
TEMPLATE_TYPES = {"EMAIL": TemplateType.EMAIL, "SMS": TemplateType.SMS, "PUSH": TemplateType.PUSH}
MAX_MULTI_BRANCHES = 4  # plus the default (Else) path: five paths
MAX_RANDOM_BRANCHES = 5
CUSTOM_DATA_CHARS = 5000
ENDPOINT_TYPES = tuple(ChannelType.values)  # CustomDeliveryConfiguration.EndpointTypes

Report = Callable[[str], None]


class Context:
    """What checking needs besides the value: the project (segments), the webhooks already checked
    (a DeliveryUri gets Pinpoint's HEAD check once per journey) and where to report."""

    def __init__(self, project: Project, *, checked_uris: set[str]) -> None:
        self.project = project
        self.checked_uris = checked_uris
        self._segments: dict[str, Segment | None] = {}

    def segment(self, segment_id: str) -> Segment | None:
        if segment_id not in self._segments:
            self._segments[segment_id] = Segment.objects.filter(project=self.project, pk=segment_id).first()
        return self._segments[segment_id]


def activity_type(activity: Mapping[str, Any]) -> str | None:
    """The activity's kind (its one type member: EMAIL, Wait, RandomSplit...), or None."""
    kinds = [k for k in (*ACTIVITY_TYPES, *UNSUPPORTED) if activity.get(k) is not None]
    return kinds[0] if len(kinds) == 1 else None


def activity_targets(activity: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(member, activity id) of every activity this one can lead to, in branch order."""
    kind = activity_type(activity)
    body = activity.get(kind) if kind else None
    if not isinstance(body, Mapping):
        return []
    found: list[tuple[str, Any]] = []
    if kind == "ConditionalSplit":
        found = [
            (f"{kind}.TrueActivity", body.get("TrueActivity")),
            (f"{kind}.FalseActivity", body.get("FalseActivity")),
        ]
    elif kind in ("MultiCondition", "RandomSplit"):
        for i, branch in enumerate(body.get("Branches") or []):
            if isinstance(branch, Mapping):
                found.append((f"{kind}.Branches[{i}].NextActivity", branch.get("NextActivity")))
        if kind == "MultiCondition":
            found.append((f"{kind}.DefaultActivity", body.get("DefaultActivity")))
    else:
        found = [(f"{kind}.NextActivity", body.get("NextActivity"))]
    return [(member, target) for member, target in found if isinstance(target, str) and target]


# --- conditions ----------------------------------------------------------------------------------


def _string_list(value: object, where: str) -> list[str]:
    items = listed(value, where)
    if not items or not all(isinstance(v, str) for v in items):
        raise Bad(f"{where} must be a non-empty list of strings.")
    return list(items)


def event_dimensions(value: object, where: str) -> dict[str, Any]:
    """EventDimensions: EventType (a SetDimension of event names), Attributes, Metrics."""
    given = obj(value, where)
    out: dict[str, Any] = {}
    event_type = obj(given.get("EventType"), at(where, "EventType"))
    out["EventType"] = {"Values": _string_list(event_type.get("Values"), at(where, "EventType.Values"))}
    if event_type.get("DimensionType") is not None:
        out["EventType"]["DimensionType"] = enum(
            event_type["DimensionType"], at(where, "EventType.DimensionType"), ("INCLUSIVE", "EXCLUSIVE")
        )
    if given.get("Attributes") is not None:
        out["Attributes"] = {}
        for name, raw in obj(given["Attributes"], at(where, "Attributes")).items():
            here = at(where, f"Attributes.{name}")
            attribute = obj(raw, here)
            kept: dict[str, Any] = {"Values": _string_list(attribute.get("Values"), f"{here}.Values")}
            if attribute.get("AttributeType") is not None:
                kept["AttributeType"] = enum(attribute["AttributeType"], f"{here}.AttributeType", ATTRIBUTE_TYPES)
            out["Attributes"][name] = kept
    if given.get("Metrics") is not None:
        out["Metrics"] = {}
        for name, raw in obj(given["Metrics"], at(where, "Metrics")).items():
            here = at(where, f"Metrics.{name}")
            metric = obj(raw, here)
            operator = enum(metric.get("ComparisonOperator"), f"{here}.ComparisonOperator", METRIC_OPERATORS)
            number = metric.get("Value")
            if not isinstance(number, int | float) or isinstance(number, bool):
                raise Bad(f"{here}.Value must be a number.")
            out["Metrics"][name] = {"ComparisonOperator": operator, "Value": number}
    return out


def event_filter(value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    return {
        "FilterType": enum(given.get("FilterType"), at(where, "FilterType"), ("SYSTEM", "ENDPOINT")),
        "Dimensions": event_dimensions(given.get("Dimensions"), at(where, "Dimensions")),
    }


def segment_reference(value: object, where: str, context: Context) -> str:
    segment_id = string(value, where)
    if context.segment(segment_id) is None:
        raise Bad(f"{where}: there is no segment {segment_id[:64]} in this project.")
    return segment_id


def simple_condition(value: object, where: str, context: Context) -> dict[str, Any]:
    """SimpleCondition: one of EventCondition, SegmentCondition, segmentDimensions (its JSON name)."""
    given = obj(value, where)
    if "SegmentDimensions" in given and "segmentDimensions" not in given:
        raise Bad(f"{where}: Pinpoint's JSON spells SegmentDimensions as segmentDimensions (lower-case s).")
    kinds = [k for k in ("EventCondition", "SegmentCondition", "segmentDimensions") if given.get(k) is not None]
    if len(kinds) != 1:
        raise Bad(f"{where} needs exactly one of EventCondition, SegmentCondition or segmentDimensions.")
    kind = kinds[0]
    here = at(where, kind)
    if kind == "EventCondition":
        condition = obj(given[kind], here)
        out: dict[str, Any] = {"Dimensions": event_dimensions(condition.get("Dimensions"), f"{here}.Dimensions")}
        if condition.get("MessageActivity") not in (None, ""):
            out["MessageActivity"] = string(condition["MessageActivity"], f"{here}.MessageActivity")
        return {kind: out}
    if kind == "SegmentCondition":
        condition = obj(given[kind], here)
        return {kind: {"SegmentId": segment_reference(condition.get("SegmentId"), f"{here}.SegmentId", context)}}
    try:
        compile_dimensions(given[kind], now=timezone.now())
    except SegmentInvalid as error:
        raise Bad(f"{here}: {error}") from None
    return {kind: dict(given[kind])}


def wait_time(value: object, where: str) -> dict[str, str]:
    """WaitTime: WaitFor (an ISO-8601 duration) or WaitUntil (a timestamp), exactly one."""
    given = obj(value, where)
    kinds = [k for k in ("WaitFor", "WaitUntil") if given.get(k) not in (None, "")]
    if len(kinds) != 1:
        raise Bad(f"{where} needs exactly one of WaitFor (a duration such as PT1H) or WaitUntil (a timestamp).")
    if kinds[0] == "WaitFor":
        return {"WaitFor": duration(given["WaitFor"], f"{where}.WaitFor", minimum=timedelta(seconds=1))}
    return {"WaitUntil": time_string(given["WaitUntil"], f"{where}.WaitUntil")}


# --- activities ----------------------------------------------------------------------------------


def _next(given: Mapping[str, Any], member: str, where: str) -> dict[str, str]:
    if given.get(member) in (None, ""):
        return {}
    return {member: string(given[member], at(where, member), limit=128)}


def _template(given: Mapping[str, Any], kind: str, where: str) -> dict[str, str]:
    if given.get("TemplateName") in (None, ""):
        if given.get("TemplateVersion") not in (None, ""):
            raise Bad(f"{where}.TemplateVersion needs a TemplateName.")
        return {}
    name = string(given["TemplateName"], f"{where}.TemplateName")
    if kind == "CUSTOM":
        raise Bad(
            f"{where}.TemplateName: Engage has no custom-channel templates; give the payload as MessageConfig.Data."
        )
    version = None if given.get("TemplateVersion") in (None, "") else str(given["TemplateVersion"])
    problem = template_reference_problem(TEMPLATE_TYPES[kind], name, version)
    if problem is not None:
        raise Bad(f"{where}.{'TemplateVersion' if problem[0] == 'version' else 'TemplateName'}: {problem[1]}")
    return {"TemplateName": name, **({"TemplateVersion": version} if version is not None else {})}


def _message_config(kind: str, value: object, where: str) -> dict[str, Any]:
    given = obj(value, where)
    out: dict[str, Any] = {}
    if kind == "EMAIL" and given.get("FromAddress") not in (None, ""):
        out["FromAddress"] = string(given["FromAddress"], f"{where}.FromAddress", limit=320)
    elif kind == "SMS":
        for member in ("OriginationNumber", "SenderId", "EntityId", "TemplateId"):
            if given.get(member) not in (None, ""):
                out[member] = string(given[member], f"{where}.{member}", limit=128)
        if given.get("MessageType") is not None:
            out["MessageType"] = enum(given["MessageType"], f"{where}.MessageType", ("TRANSACTIONAL", "PROMOTIONAL"))
    elif kind == "PUSH" and given.get("TimeToLive") not in (None, ""):
        ttl = string(given["TimeToLive"], f"{where}.TimeToLive")
        if not (ttl.isascii() and ttl.isdigit() and int(ttl) <= 2_419_200):
            raise Bad(f"{where}.TimeToLive must be a number of seconds (as a string) up to 2419200 (28 days).")
        out["TimeToLive"] = ttl
    elif kind == "CUSTOM" and given.get("Data") is not None:
        out["Data"] = string(given["Data"], f"{where}.Data", limit=CUSTOM_DATA_CHARS)
    return out


def _gather(out: dict[str, Any], report: Report, *checks: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    """Run each check, keeping what it returns and reporting what it refuses (so all are reported)."""
    for check in checks:
        try:
            out.update(check())
        except Bad as error:
            report(str(error))
    return out


def _try(report: Report, check: Callable[..., Any], *args: Any) -> Any:
    """check(*args), or None when it refuses (reported)."""
    try:
        return check(*args)
    except Bad as error:
        report(str(error))
        return None


def _message(kind: str, given: Mapping[str, Any], where: str, context: Context, report: Report) -> dict[str, Any]:
    def config() -> dict[str, Any]:
        if given.get("MessageConfig") is None:
            return {}
        return {"MessageConfig": _message_config(kind, given["MessageConfig"], f"{where}.MessageConfig")}

    checks = [lambda: _next(given, "NextActivity", where), lambda: _template(given, kind, where), config]
    if kind == "CUSTOM":
        checks.append(lambda: _custom_delivery(given, where, context))
    return _gather({}, report, *checks)


def _custom_delivery(given: Mapping[str, Any], where: str, context: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if given.get("EndpointTypes") is not None:
        types = listed(given["EndpointTypes"], f"{where}.EndpointTypes")
        out["EndpointTypes"] = [enum(t, f"{where}.EndpointTypes", ENDPOINT_TYPES) for t in types]
    if given.get("DeliveryUri") in (None, ""):
        return out
    uri = string(given["DeliveryUri"], f"{where}.DeliveryUri", limit=2048)
    if uri not in context.checked_uris:
        try:
            custom_uri_check(uri)
        except CustomUriInvalid as error:
            raise Bad(f"{where}.DeliveryUri: {error}") from None
        context.checked_uris.add(uri)
    return {"DeliveryUri": uri, **out}


def _wait(given: Mapping[str, Any], where: str, report: Report) -> dict[str, Any]:
    def waiting() -> dict[str, Any]:
        return {} if given.get("WaitTime") is None else {"WaitTime": wait_time(given["WaitTime"], f"{where}.WaitTime")}

    return _gather({}, report, lambda: _next(given, "NextActivity", where), waiting)


def _evaluation_wait(given: Mapping[str, Any], where: str) -> dict[str, Any]:
    if given.get("EvaluationWaitTime") is None:
        return {}
    return {"EvaluationWaitTime": wait_time(given["EvaluationWaitTime"], f"{where}.EvaluationWaitTime")}


def _conditional_split(given: Mapping[str, Any], where: str, context: Context, report: Report) -> dict[str, Any]:
    def condition() -> dict[str, Any]:
        if given.get("Condition") is None:
            return {}
        raw = obj(given["Condition"], f"{where}.Condition")
        kept: dict[str, Any] = {}
        if raw.get("Operator") is not None:
            kept["Operator"] = enum(raw["Operator"], f"{where}.Condition.Operator", ("ALL", "ANY"))
        here = f"{where}.Condition.Conditions"
        conditions = listed(raw.get("Conditions") or [], here)
        checked = [_try(report, simple_condition, c, f"{here}[{i}]", context) for i, c in enumerate(conditions)]
        kept["Conditions"] = [c for c in checked if c is not None]
        return {"Condition": kept}

    return _gather(
        {},
        report,
        lambda: _next(given, "TrueActivity", where),
        lambda: _next(given, "FalseActivity", where),
        lambda: _evaluation_wait(given, where),
        condition,
    )


def _branches(
    given: Mapping[str, Any], where: str, check: Callable[[object, str], dict[str, Any]], limit: int, report: Report
) -> dict[str, Any]:
    """Branches: a list of at most `limit` (more is reported, not cut), each checked by `check`."""
    branches = listed(given.get("Branches") or [], f"{where}.Branches")
    if len(branches) > limit:
        paths = " (five paths with DefaultActivity)" if limit == MAX_MULTI_BRANCHES else ""
        report(f"{where}.Branches has {len(branches)} branches; the limit is {limit}{paths}.")
    checked = [_try(report, check, raw, f"{where}.Branches[{i}]") for i, raw in enumerate(branches)]
    return {"Branches": [b for b in checked if b is not None]}


def _multi_condition(given: Mapping[str, Any], where: str, context: Context, report: Report) -> dict[str, Any]:
    def branch(raw: object, here: str) -> dict[str, Any]:
        body = obj(raw, here)
        out = _next(body, "NextActivity", here)
        if body.get("Condition") is not None:
            out["Condition"] = simple_condition(body["Condition"], f"{here}.Condition", context)
        return out

    return _gather(
        {},
        report,
        lambda: _next(given, "DefaultActivity", where),
        lambda: _evaluation_wait(given, where),
        lambda: _branches(given, where, branch, MAX_MULTI_BRANCHES, report),
    )


def _random_split(given: Mapping[str, Any], where: str, report: Report) -> dict[str, Any]:
    def branch(raw: object, here: str) -> dict[str, Any]:
        body = obj(raw, here)
        out = _next(body, "NextActivity", here)
        if body.get("Percentage") is not None:
            out["Percentage"] = integer(body["Percentage"], f"{here}.Percentage", 0, 100)
        return out

    return _gather({}, report, lambda: _branches(given, where, branch, MAX_RANDOM_BRANCHES, report))


def _holdout(given: Mapping[str, Any], where: str, report: Report) -> dict[str, Any]:
    return _gather(
        {},
        report,
        lambda: _next(given, "NextActivity", where),
        lambda: {"Percentage": integer(given.get("Percentage"), f"{where}.Percentage", 0, 100)},
    )


def activity(value: object, context: Context, report: Report) -> dict[str, Any]:
    """One Activity, every problem reported (as "<member>: why"); returns what is kept of it."""
    try:
        given = obj(value, "The activity")
    except Bad as error:
        report(str(error))
        return {}
    out: dict[str, Any] = {}
    if given.get("Description") is not None:
        try:
            out["Description"] = string(given["Description"], "Description", limit=1000)
        except Bad as error:
            report(str(error))
    kinds = [k for k in (*ACTIVITY_TYPES, *UNSUPPORTED) if given.get(k) is not None]
    if len(kinds) != 1:
        found = f" (it has {', '.join(kinds)})" if kinds else ""
        report(f"An activity needs exactly one of {', '.join((*ACTIVITY_TYPES, *UNSUPPORTED))}{found}.")
        return out
    kind = kinds[0]
    if kind == "ContactCenter":
        report(
            "ContactCenter activities (Amazon Connect outbound calls) are not supported by Engage: "
            "use an SMS, EMAIL, PUSH or CUSTOM activity instead."
        )
        return out
    try:
        body = obj(given[kind], kind)
    except Bad as error:
        report(str(error))
        return out
    if kind in MESSAGE_TYPES:
        out[kind] = _message(kind, body, kind, context, report)
    elif kind == "Wait":
        out[kind] = _wait(body, kind, report)
    elif kind == "ConditionalSplit":
        out[kind] = _conditional_split(body, kind, context, report)
    elif kind == "MultiCondition":
        out[kind] = _multi_condition(body, kind, context, report)
    elif kind == "RandomSplit":
        out[kind] = _random_split(body, kind, report)
    else:
        out[kind] = _holdout(body, kind, report)
    return out
