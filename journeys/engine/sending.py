"""SendingSchedule ("advanced quiet time"): OpenHours and ClosedDays of a journey's message channel.

With `SendingSchedule: true`, a message activity sends only inside its channel's open hours and
outside its channel's closed days; a participant arriving at another time is held in the activity
until the next open instant (`next_open`), then decided again (QuietTime and the caps still apply).
- OpenHours[channel][DAY] = [{StartTime, EndTime}] (HH:MM, start inclusive, end exclusive) in the
  endpoint's Demographic.Timezone with LocalTime, else in the journey's Schedule.Timezone (UTC by
  default). A channel with OpenHours is closed on the days it does not list; a channel without
  OpenHours is open every day.
- ClosedDays[channel] = [{Name, StartDateTime, EndDateTime}] (end exclusive); a time without an
  offset is read in the same zone as the open hours.
The channel is the activity's: EMAIL, SMS, PUSH or CUSTOM (VOICE rules are kept but never apply:
journeys have no voice activity). Pure functions, no database.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from campaigns.schedule import ScheduleInvalid, endpoint_zone, offset_of, parse_hh_mm, parse_instant

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MAX_STEPS = 64  # closed-day and open-hour jumps one search may take (≤ 20 closed days + a week of ranges)
OPEN = "OPEN_HOURS"
CLOSED = "CLOSED_DAYS"


class SendingSchedule:
    """A journey's SendingSchedule, read once per advance."""

    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.on = bool(definition.get("SendingSchedule"))
        self.local = bool(definition.get("LocalTime"))
        try:
            self.journey_zone: tzinfo = offset_of(str((definition.get("Schedule") or {}).get("Timezone") or "UTC"))
        except ScheduleInvalid:
            self.journey_zone = UTC
        self.open_hours: dict[str, dict[int, list[tuple[time, time]]]] = {}
        for channel, days in (definition.get("OpenHours") or {}).items():
            table: dict[int, list[tuple[time, time]]] = {}
            for day, rules in (days or {}).items():
                if day not in DAYS:
                    continue
                ranges = []
                for rule in rules or []:
                    try:
                        start = parse_hh_mm(rule.get("StartTime"), "StartTime")
                        end = parse_hh_mm(rule.get("EndTime"), "EndTime")
                    except (ScheduleInvalid, AttributeError):
                        continue
                    if start < end:
                        ranges.append((start, end))
                table[DAYS.index(day)] = sorted(ranges)
            self.open_hours[channel] = table
        self.closed_days: dict[str, list[tuple[str, str]]] = {
            channel: [(str(r.get("StartDateTime") or ""), str(r.get("EndDateTime") or "")) for r in rules or []]
            for channel, rules in (definition.get("ClosedDays") or {}).items()
        }

    def applies(self, channel: str) -> bool:
        return self.on and (channel in self.open_hours or bool(self.closed_days.get(channel)))

    def zone(self, endpoint_timezone: str | None) -> tzinfo:
        """Where the rules are read: the endpoint's zone with LocalTime (if valid), else the journey's."""
        if self.local:
            zone = endpoint_zone(endpoint_timezone)
            if zone is not None:
                return zone
        return self.journey_zone

    def next_open(self, channel: str, moment: datetime, zone: tzinfo) -> tuple[datetime | None, str]:
        """(the first instant ≥ `moment` when `channel` may send, why it was closed: "" when open now,
        OPEN_HOURS or CLOSED_DAYS). (None, reason) when it never opens again (no open range at all)."""
        closed = self._closed(channel, zone)
        table = self.open_hours.get(channel)
        if table is not None and not any(table.values()):
            return None, OPEN
        candidate, reason = moment, ""
        for _ in range(MAX_STEPS):
            moved = False
            for start, end in closed:
                if start <= candidate < end:
                    candidate, reason, moved = end, reason or CLOSED, True
            if table is not None:
                opening = _next_range_start(table, candidate, zone)
                if opening is None:
                    return None, OPEN
                if opening != candidate:
                    candidate, reason, moved = opening, reason or OPEN, True
            if not moved:
                return candidate, reason
        return None, reason or CLOSED

    def _closed(self, channel: str, zone: tzinfo) -> list[tuple[datetime, datetime]]:
        spans = []
        for start, end in self.closed_days.get(channel) or []:
            try:
                spans.append((parse_instant(start, tz=zone), parse_instant(end, tz=zone)))  # type: ignore[arg-type]
            except ScheduleInvalid:
                continue
        return spans


def _next_range_start(table: Mapping[int, list[tuple[time, time]]], moment: datetime, zone: tzinfo) -> datetime | None:
    """`moment` if it is inside an open range, else the start of the next open range (None: none in
    two weeks). Ranges are
    compared as instants (UTC): a wall time repeated by a DST change is read at its first occurrence;
    a range swallowed by the spring gap does not open that day."""
    instant = moment.astimezone(UTC)
    first = moment.astimezone(zone).date() - timedelta(days=1)
    for offset in range(16):  # two weeks: a week's only range may fall in a DST gap
        day = first + timedelta(days=offset)
        for start, end in table.get(day.weekday()) or []:
            opens = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
            if opens >= closes:
                continue
            if opens <= instant < closes:
                return moment
            if opens > instant:
                return opens
    return None
