"""A campaign Schedule's times: parsing Pinpoint's values and computing the starts of its runs.

Pure functions, no database. Conventions (Pinpoint leaves them to the console):
- `StartTime` is `"IMMEDIATE"` or an ISO-8601 timestamp. One without an offset is read in the
  schedule's `Timezone` (default UTC).
- A recurring schedule starts at StartTime and then every period (HOURLY, DAILY, WEEKLY: fixed
  steps; MONTHLY: the same day of the month, clamped to the month's last day) while the start is
  before `EndTime`.
- `IsLocalTime`: the wall-clock time of each start, read in `Timezone`, is the time every endpoint
  receives the message in its own `Demographic.Timezone` (see `local_instant`).
"""

import calendar
import re
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

IMMEDIATE = "IMMEDIATE"
RECURRING = {"HOURLY": timedelta(hours=1), "DAILY": timedelta(days=1), "WEEKLY": timedelta(weeks=1)}
# Schedule.Timezone values Pinpoint accepts for campaigns (no UTC-01, no UTC-12).
TIMEZONES = (
    "UTC",
    *(f"UTC+{h}" for h in ("01", "02", "03", "03:30", "04", "04:30", "05", "05:30", "05:45", "06", "06:30")),
    *(f"UTC+{h}" for h in ("07", "08", "09", "09:30", "10", "10:30", "11", "12", "13")),
    *(f"UTC-{h:02d}" for h in range(2, 12)),
)
_OFFSET = re.compile(r"^UTC(?:([+-])(\d{2})(?::(\d{2}))?)?$")
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# The widest offsets of real time zones: a local-time run must begin when the earliest zone is due.
EARLIEST_OFFSET = timedelta(hours=14)
LATEST_OFFSET = timedelta(hours=-12)


class ScheduleInvalid(ValueError):
    pass


def offset_of(name: str) -> timezone:
    """`UTC+05:30` → a fixed-offset tzinfo. Raises ScheduleInvalid for other spellings."""
    match = _OFFSET.match(name or "UTC")
    if not match:
        raise ScheduleInvalid(f"Timezone {name!r} is not one of UTC, UTC+01 … UTC+13, UTC-02 … UTC-11.")
    sign, hours, minutes = match.groups()
    if sign is None:
        return UTC
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    return timezone(delta if sign == "+" else -delta, name)


def parse_instant(value: str, *, tz: timezone = UTC, where: str = "StartTime") -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise ScheduleInvalid(f"{where} must be an ISO-8601 timestamp.") from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def parse_hh_mm(value: str, where: str) -> time:
    match = _HH_MM.match(value or "")
    if not match:
        raise ScheduleInvalid(f"{where} must be a time of day as HH:MM (24-hour).")
    return time(int(match[1]), int(match[2]))


def endpoint_zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """An endpoint's Demographic.Timezone as a zone, or None when it is missing or unknown."""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def add_months(moment: datetime, months: int) -> datetime:
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def first_start(schedule: Mapping[str, Any], *, now: datetime) -> datetime:
    """The first run's start: `now` for IMMEDIATE, else StartTime."""
    start = schedule.get("StartTime") or IMMEDIATE
    if start == IMMEDIATE:
        return now
    return parse_instant(start, tz=offset_of(schedule.get("Timezone") or "UTC"))


def end_of(schedule: Mapping[str, Any]) -> datetime | None:
    end = schedule.get("EndTime")
    return parse_instant(end, tz=offset_of(schedule.get("Timezone") or "UTC"), where="EndTime") if end else None


def next_start(schedule: Mapping[str, Any], *, after: datetime, first: datetime) -> datetime | None:
    """The first start of a recurring schedule strictly after `after` (starts are first, first +
    period, ...), or None when the schedule does not recur or has ended."""
    frequency = schedule.get("Frequency") or "ONCE"
    end = end_of(schedule)
    if frequency in RECURRING:
        step = RECURRING[frequency]
        steps = max(0, (after - first) // step + 1)
        candidate = first + steps * step
        while candidate <= after:
            candidate += step
    elif frequency == "MONTHLY":
        months = max(0, (after.year - first.year) * 12 + after.month - first.month)
        candidate = add_months(first, months)
        while candidate <= after:
            months += 1
            candidate = add_months(first, months)
    else:
        return None
    return candidate if end is None or candidate < end else None


def local_instant(start: datetime, schedule_tz: timezone, zone: zoneinfo.ZoneInfo) -> datetime:
    """The instant an endpoint in `zone` receives a local-time run that starts at `start`: the same
    wall-clock time, read in the endpoint's zone."""
    wall = start.astimezone(schedule_tz).replace(tzinfo=None)
    return wall.replace(tzinfo=zone)


def in_quiet_time(moment: datetime, zone: zoneinfo.ZoneInfo | None, start: time, end: time) -> bool:
    """Pinpoint's rule: quiet time applies only to endpoints with a valid time zone, when their local
    time is within [start, end]; a window with end before start spans midnight."""
    if zone is None:
        return False
    local = moment.astimezone(zone).time().replace(second=0, microsecond=0)
    if start <= end:
        return start <= local <= end
    return local >= start or local <= end


def quiet_window_end(moment: datetime, zone: zoneinfo.ZoneInfo, end: time) -> datetime:
    """The first instant after `moment` when the local time is `end` (when quiet time is over)."""
    local = moment.astimezone(zone)
    candidate = datetime.combine(local.date(), end, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return candidate


def run_begins(schedule: Mapping[str, Any], start: datetime) -> datetime:
    """When the scheduler must create the run for `start`: at `start`, or, for a local-time schedule,
    when the earliest time zone (UTC+14) reaches the start's wall-clock time."""
    if not schedule.get("IsLocalTime"):
        return start
    earliest = timezone(EARLIEST_OFFSET)
    wall = start.astimezone(offset_of(schedule.get("Timezone") or "UTC")).replace(tzinfo=None)
    return wall.replace(tzinfo=earliest)
