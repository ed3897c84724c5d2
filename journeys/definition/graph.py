"""What publishing needs beyond well-formed members: a journey whose activities form one acyclic
path system from StartActivity, each activity complete enough to run. Every problem is reported
with the activity it belongs to ("" for the journey's own members)."""

from collections.abc import Callable, Mapping
from typing import Any

from journeys.definition.activities import MESSAGE_TYPES, activity_targets, activity_type

Report = Callable[[str, str], None]


def _complete(activity_id: str, activity: Mapping[str, Any], activities: Mapping[str, Any], report: Report) -> None:
    """The members an activity of each kind needs to run."""
    kind = activity_type(activity)
    body = activity.get(kind) or {} if kind else {}
    if kind in ("EMAIL", "SMS", "PUSH") and not body.get("TemplateName"):
        report(activity_id, f"{kind}.TemplateName is required: a journey's {kind} activity sends a {kind} template.")
    elif kind == "CUSTOM" and not body.get("DeliveryUri"):
        report(activity_id, "CUSTOM.DeliveryUri is required: the webhook the custom activity calls.")
    elif kind == "Wait" and not body.get("WaitTime"):
        report(activity_id, "Wait.WaitTime is required (WaitFor or WaitUntil).")
    elif kind == "ConditionalSplit":
        conditions = (body.get("Condition") or {}).get("Conditions") or []
        if not conditions:
            report(activity_id, "ConditionalSplit.Condition.Conditions needs at least one condition.")
        for i, condition in enumerate(conditions):
            _event_source(activity_id, f"ConditionalSplit.Condition.Conditions[{i}]", condition, activities, report)
    elif kind == "MultiCondition":
        branches = body.get("Branches") or []
        if not branches:
            report(activity_id, "MultiCondition.Branches needs at least one branch.")
        for i, branch in enumerate(branches):
            if not branch.get("Condition"):
                report(activity_id, f"MultiCondition.Branches[{i}].Condition is required.")
            else:
                _event_source(
                    activity_id, f"MultiCondition.Branches[{i}].Condition", branch["Condition"], activities, report
                )
    elif kind == "RandomSplit":
        branches = body.get("Branches") or []
        if len(branches) < 2:
            report(activity_id, "RandomSplit.Branches needs 2 to 5 branches.")
        if any(b.get("Percentage") is None for b in branches):
            report(activity_id, "RandomSplit.Branches: every branch needs a Percentage.")
        elif branches and sum(b["Percentage"] for b in branches) != 100:
            total = sum(b["Percentage"] for b in branches)
            report(activity_id, f"RandomSplit.Branches' percentages add up to {total}; they must add up to 100.")


def _event_source(
    activity_id: str, where: str, condition: Mapping[str, Any], activities: Mapping[str, Any], report: Report
) -> None:
    """An event condition reads the message events of a message activity of the journey."""
    source = (condition.get("EventCondition") or {}).get("MessageActivity")
    if not source:
        return
    if source not in activities:
        report(
            activity_id,
            f"{where}.EventCondition.MessageActivity names {source}, which is not an activity of this journey.",
        )
    elif activity_type(activities[source]) not in MESSAGE_TYPES:
        report(
            activity_id,
            f"{where}.EventCondition.MessageActivity {source} is not a message activity (EMAIL, SMS, PUSH, CUSTOM).",
        )


def _cycle_from(start: str, edges: Mapping[str, list[str]]) -> list[str] | None:
    """A path start → … → start if the activities loop back to `start`."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in edges.get(node, []):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def graph_errors(definition: Mapping[str, Any], report: Report, *, skip: set[str] | frozenset = frozenset()) -> None:
    """Report every reason the journey cannot be published; `definition` holds the well-formed
    members. `skip` names activities and journey members already refused: their completeness is not
    judged again."""
    activities: Mapping[str, Any] = definition.get("Activities") or {}
    start = definition.get("StartActivity")
    if not definition.get("StartCondition") and "StartCondition" not in skip:
        report("", "StartCondition is required to publish: a SegmentStartCondition or an EventStartCondition.")
    if not activities:
        if "Activities" not in skip:
            report("", "A journey needs at least one activity to be published.")
        return
    if not start:
        if "StartActivity" not in skip:
            report("", "StartActivity is required to publish: the id of the journey's first activity.")
    elif start not in activities:
        report("", f"StartActivity names {start}, which is not an activity of this journey.")
        start = None
    edges: dict[str, list[str]] = {}
    for activity_id, activity in activities.items():
        edges[activity_id] = []
        for member, target in activity_targets(activity):
            if target not in activities:
                report(activity_id, f"{member} names {target}, which is not an activity of this journey.")
            else:
                edges[activity_id].append(target)
        if activity_id not in skip:
            _complete(activity_id, activity, activities, report)
    in_cycle: set[str] = set()
    for activity_id in activities:
        if activity_id in in_cycle:
            continue
        cycle = _cycle_from(activity_id, edges)
        if cycle:
            in_cycle.update(cycle)
            report(
                activity_id, f"The activities loop back: {' → '.join(cycle)}. A journey cannot go round in a circle."
            )
    if start:
        reached = {start}
        frontier = [start]
        while frontier:
            for target in edges[frontier.pop()]:
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
        entered = {t for targets in edges.values() for t in targets}
        for activity_id in activities:
            if activity_id in reached:
                continue
            if activity_id not in entered:
                report(activity_id, f"Nothing leads to this activity: a journey has one start (StartActivity {start}).")
            else:
                report(activity_id, f"This activity cannot be reached from StartActivity {start}.")
