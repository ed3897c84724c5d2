"""The small value checks every journey member is built from: each returns the value as stored or
raises Bad with a message naming the member (`where`)."""

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from campaigns import schedule as sched
from engage.api.formats import iso8601

MAX_INT32 = 2_147_483_647
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_CALENDAR = re.compile(r"^P(?:\d+Y|\d+M)")
# JourneySchedule.Timezone: the campaign list plus six more offsets (botocore's documentation).
TIMEZONES = (
    *sched.TIMEZONES,
    "UTC+08:45",
    "UTC+12:45",
    "UTC+13:45",
    "UTC-02:30",
    "UTC-03:30",
    "UTC-09:30",
)


class Bad(Exception):
    """One member is wrong; the message says which and why."""


def at(where: str, member: str) -> str:
    return f"{where}.{member}" if where else member


def obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Bad(f"{where} must be an object.")
    return value


def string(value: object, where: str, *, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise Bad(f"{where} must be a string.")
    if limit is not None and len(value) > limit:
        raise Bad(f"{where} is {len(value)} characters long; the limit is {limit}.")
    return value


def integer(value: object, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Bad(f"{where} must be a whole number.")
    if not low <= value <= high:
        raise Bad(f"{where} must be between {low} and {high}, not {value}.")
    return value


def boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise Bad(f"{where} must be true or false.")
    return value


def enum(value: object, where: str, allowed: tuple[str, ...] | list[str]) -> str:
    if value not in allowed:
        raise Bad(f"{where} must be one of {', '.join(allowed)}.")
    return value  # type: ignore[return-value]


def listed(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Bad(f"{where} must be a list.")
    return value


def parse_duration(text: str) -> timedelta:
    """An ISO-8601 duration (`PT1H`, `P2D`, `P1DT12H`, `P1W`) as a timedelta; raises ValueError.
    Years and months are refused: their length depends on the calendar."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or not any(match.groupdict().values()) or text.endswith("T"):
        if isinstance(text, str) and _CALENDAR.match(text):
            raise ValueError("in years or months, which Engage does not support: give days, e.g. P30D")
        raise ValueError("not an ISO-8601 duration such as PT1H, P2D or P1DT12H")
    return timedelta(**{k: float(v) for k, v in match.groupdict().items() if v})


def duration(value: object, where: str, *, minimum: timedelta = timedelta(seconds=1)) -> str:
    text = string(value, where)
    try:
        length = parse_duration(text)
    except ValueError as error:
        raise Bad(f"{where} {text[:40]!r} is {error}.") from None
    if length < minimum:
        raise Bad(f"{where} must be at least {_spoken(minimum)}.")
    return text


def _spoken(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour{'s' if seconds != 3600 else ''}"
    return f"{seconds} seconds"


def instant(value: object, where: str, *, tz: timezone = UTC) -> datetime:
    """An ISO-8601 timestamp (one without an offset is read in `tz`)."""
    text = string(value, where)
    try:
        return sched.parse_instant(text, tz=tz, where=where)
    except sched.ScheduleInvalid as error:
        raise Bad(str(error)) from None


def timestamp(value: object, where: str, *, tz: timezone = UTC) -> str:
    """A timestamp-typed member (JourneySchedule's) as Pinpoint answers it (UTC, milliseconds, Z)."""
    return iso8601(instant(value, where, tz=tz))  # type: ignore[return-value]


def time_string(value: object, where: str) -> str:
    """A string member holding an ISO-8601 time (WaitUntil, ClosedDays): checked, kept as written."""
    instant(value, where)
    return value  # type: ignore[return-value]


def hh_mm(value: object, where: str) -> str:
    text = value if isinstance(value, str) else ""
    try:
        sched.parse_hh_mm(text, where)
    except sched.ScheduleInvalid as error:
        raise Bad(str(error)) from None
    return text
