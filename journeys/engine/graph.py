"""Reading a journey's definition (Pinpoint's WriteJourneyRequest members) as the engine needs it:
activity kinds, where each activity leads, waits, limits and quiet time. Pure functions."""

import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from campaigns.schedule import ScheduleInvalid, parse_hh_mm, parse_instant

MESSAGE_KINDS = ("EMAIL", "SMS", "PUSH", "CUSTOM")
KINDS = (*MESSAGE_KINDS, "Wait", "ConditionalSplit", "MultiCondition", "RandomSplit", "Holdout", "ContactCenter")
# Pinpoint's ActivityType of the activity execution metrics.
ACTIVITY_TYPE = {
    **dict.fromkeys(MESSAGE_KINDS, "MESSAGE"),
    "Wait": "WAIT",
    "ConditionalSplit": "CONDITIONAL_SPLIT",
    "MultiCondition": "MULTI_CONDITIONAL_SPLIT",
    "RandomSplit": "RANDOM_SPLIT",
    "Holdout": "HOLDOUT",
    "ContactCenter": "CONTACT_CENTER",
}
_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str | None) -> timedelta | None:
    """An ISO-8601 duration (`PT1H`, `P2D`, `P1W`...) as a timedelta (a month is 30 days, a year 365);
    None when empty or unreadable."""
    match = _DURATION.match(value or "")
    if not match or value in ("P", "PT"):
        return None
    parts = {name: float(number) for name, number in match.groupdict().items() if number}
    days = parts.get("days", 0) + 7 * parts.get("weeks", 0) + 30 * parts.get("months", 0) + 365 * parts.get("years", 0)
    return timedelta(
        days=days, hours=parts.get("hours", 0), minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0)
    )


def kind_of(activity: Mapping[str, Any] | None) -> str:
    """The activity's kind: the one member of KINDS it sets ("" when none)."""
    for kind in KINDS:
        if (activity or {}).get(kind) is not None:
            return kind
    return ""


def body_of(activity: Mapping[str, Any]) -> Mapping[str, Any]:
    return activity.get(kind_of(activity)) or {}


def wait_until(wait: Mapping[str, Any] | None, since: datetime) -> datetime | None:
    """The end of a WaitTime counted from `since` (WaitFor) or its WaitUntil instant; None when unset."""
    wait = wait or {}
    if wait.get("WaitFor"):
        duration = parse_duration(wait["WaitFor"])
        return since + duration if duration is not None else None
    if wait.get("WaitUntil"):
        try:
            return parse_instant(wait["WaitUntil"], where="WaitUntil")
        except ScheduleInvalid:
            return None
    return None


class Definition:
    """A journey's definition, read once per batch."""

    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.raw = definition
        self.activities: Mapping[str, Mapping[str, Any]] = definition.get("Activities") or {}
        self.limits: Mapping[str, Any] = definition.get("Limits") or {}

    @property
    def start_activity(self) -> str:
        return str(self.raw.get("StartActivity") or "")

    @property
    def event_start(self) -> Mapping[str, Any] | None:
        return ((self.raw.get("StartCondition") or {}).get("EventStartCondition")) or None

    def limit(self, name: str) -> int:
        value = self.limits.get(name)
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0

    def timeframe(self) -> tuple[int, int]:
        """(Cap, Days) of Limits.TimeframeCap; (0, 0) when off."""
        frame = self.limits.get("TimeframeCap") or {}
        return int(frame.get("Cap") or 0), int(frame.get("Days") or 0)

    def quiet_time(self) -> tuple[time, time] | None:
        quiet = self.raw.get("QuietTime") or {}
        if quiet.get("Start") and quiet.get("End"):
            try:
                return parse_hh_mm(quiet["Start"], "QuietTime.Start"), parse_hh_mm(quiet["End"], "QuietTime.End")
            except ScheduleInvalid:
                return None
        return None


def next_of(activity: Mapping[str, Any]) -> str:
    """The NextActivity of a one-way activity ("" when the journey ends after it)."""
    return str(body_of(activity).get("NextActivity") or "")
