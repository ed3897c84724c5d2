"""Dates for `dateFormat` and `now`: Java SimpleDateFormat patterns and the four Java date styles, with
English (en-US) names, as Pinpoint documents them.

Pattern letters: G y Y M L w W D d F E u a H k K h m s S z Z X, text in '...' and '' for a quote.
`Y` is the US week year, `z` gives the zone abbreviation at any width. Other ASCII letters are errors.
Dates without a zone are read in `tz` (UTC when absent); output is in `tz` (UTC when absent). An
unknown `tz` falls back to UTC, as Java's TimeZone.getTimeZone does.
"""

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from .errors import HelperError

STYLES = {"full": "EEEE, MMMM d, y", "long": "MMMM d, y", "medium": "MMM d, y", "short": "M/d/yy"}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LETTERS = frozenset("GyYMLwWDdFEuaHkKhmsSzZX")
_NUMERIC = frozenset("yYdHkKhmsSDFwWu")
_OFFSET = re.compile(r"(?:GMT|UTC)?([+-])(\d{1,2})(?::?(\d{2}))?")

Item = tuple[str, int] | str  # (pattern letter, repeat count) or literal text


def format_value(value: str, *, input_format: str | None, output_format: str | None, tz: str | None) -> str:
    """`value` (ISO 8601, epoch milliseconds, or `input_format`) shown with `output_format` in `tz`."""
    zone = _zone(tz)
    moment = _read(value.strip(), input_format, zone)
    return _format(moment.astimezone(zone), output_format)


def format_now(*, output_format: str | None, tz: str | None) -> str:
    """The current date shown with `output_format` (default medium) in `tz`."""
    return _format(datetime.now(UTC).astimezone(_zone(tz)), output_format)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(name: str | None) -> tzinfo:
    if name is None:
        return UTC
    name = name.strip()
    if name in _zone_names():
        return ZoneInfo(name)
    m = _OFFSET.fullmatch(name)
    if m is not None:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours <= 23 and minutes <= 59:
            sign = -1 if m.group(1) == "-" else 1
            return timezone(sign * timedelta(hours=hours, minutes=minutes))
    return UTC


# -- patterns --------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _items(pattern: str) -> tuple[Item, ...]:
    items: list[Item] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if pattern.startswith("''", i):
                items.append("'")
                i += 2
                continue
            j, text = i + 1, []
            while True:
                if j >= n:
                    raise HelperError("unterminated quote in the date pattern")
                if pattern[j] == "'":
                    if pattern.startswith("''", j):
                        text.append("'")
                        j += 2
                        continue
                    break
                text.append(pattern[j])
                j += 1
            items.append("".join(text))
            i = j + 1
        elif c.isascii() and c.isalpha():
            if c not in _LETTERS:
                raise HelperError(f"illegal pattern character {c!r}")
            j = i
            while j < n and pattern[j] == c:
                j += 1
            items.append((c, j - i))
            i = j
        else:
            items.append(c)
            i += 1
    return tuple(items)


def _format(moment: datetime, output_format: str | None) -> str:
    pattern = STYLES.get(output_format or "medium", output_format or "medium")
    return "".join(item if type(item) is str else _field(moment, *item) for item in _items(pattern))


def _us_week_year(day: date) -> tuple[int, int]:
    """(week year, week of year) with weeks from Sunday and week 1 holding January 1, as Java in en-US."""
    saturday = day + timedelta(days=(5 - day.weekday()) % 7)
    if saturday.year > day.year:
        return day.year + 1, 1
    jan1 = date(day.year, 1, 1)
    return day.year, (day.timetuple().tm_yday - 1 + (jan1.weekday() + 1) % 7) // 7 + 1


def _offset(moment: datetime, count: int, letter: str) -> str:
    delta = moment.utcoffset() or timedelta(0)
    if letter == "X" and not delta:
        return "Z"
    minutes = int(delta.total_seconds()) // 60
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    hh, mm = divmod(minutes, 60)
    if letter == "X" and count == 1:
        return f"{sign}{hh:02d}"
    if letter == "X" and count >= 3:
        return f"{sign}{hh:02d}:{mm:02d}"
    return f"{sign}{hh:02d}{mm:02d}"


def _field(moment: datetime, letter: str, count: int) -> str:
    if letter in "ML":
        if count >= 4:
            return _MONTHS[moment.month - 1]
        if count == 3:
            return _MONTHS[moment.month - 1][:3]
        return str(moment.month).zfill(count)
    if letter == "E":
        name = _DAYS[moment.weekday()]
        return name if count >= 4 else name[:3]
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    if letter == "G":
        return "AD"
    if letter in "zZX":
        if letter == "z":
            return moment.tzname() or _offset(moment, 3, "X")
        return _offset(moment, count, letter)
    if letter in "yY":
        year = moment.year if letter == "y" else _us_week_year(moment.date())[0]
        return f"{year % 100:02d}" if count == 2 else str(year).zfill(count)
    if letter == "d":
        number = moment.day
    elif letter in "HkKh":
        hour = moment.hour
        number = {"H": hour, "k": hour or 24, "K": hour % 12, "h": hour % 12 or 12}[letter]
    elif letter == "m":
        number = moment.minute
    elif letter == "s":
        number = moment.second
    elif letter == "S":
        number = moment.microsecond // 1000
    elif letter == "D":
        number = moment.timetuple().tm_yday
    elif letter == "F":
        number = (moment.day - 1) // 7 + 1
    elif letter == "u":
        number = moment.isoweekday()
    elif letter == "w":
        number = _us_week_year(moment.date())[1]
    else:  # W
        number = (moment.day - 1 + (moment.replace(day=1).weekday() + 1) % 7) // 7 + 1
    return str(number).zfill(count)


# -- reading ---------------------------------------------------------------------------------------


def _read(value: str, input_format: str | None, zone: tzinfo) -> datetime:
    moment = _parse_pattern(value, input_format) if input_format else _parse_default(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def _parse_default(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    if value.lstrip("-").isdigit() and len(value) <= 15:
        try:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise HelperError(f"cannot read {value[:40]!r} as a date; pass inputFormat")


@lru_cache(maxsize=256)
def _reader(pattern: str) -> tuple[re.Pattern, tuple[tuple[str, int], ...]]:
    items = _items(pattern)
    parts, fields = [], []
    for k, item in enumerate(items):
        if type(item) is str:
            parts.append(re.escape(item))
            continue
        letter, count = item
        following = items[k + 1] if k + 1 < len(items) else None
        adjacent_number = type(following) is tuple and following[0] in _NUMERIC
        if letter in _NUMERIC or (letter in "ML" and count <= 2):
            parts.append(rf"(\d{{{count}}})" if adjacent_number else r"(\d{1,9})")
        elif letter in "ML":
            parts.append(r"([A-Za-z]{3,9})\.?")
        elif letter == "E":
            parts.append(r"([A-Za-z]{2,9})")
        elif letter == "a":
            parts.append(r"([AaPp]\.?[Mm]\.?)")
        elif letter == "G":
            parts.append(r"([AaBb][DdCc])")
        else:
            parts.append(r"(Z|[+-]\d{2}(?::?\d{2})?|(?:GMT|UTC)(?:[+-]\d{1,2}(?::?\d{2})?)?|[A-Za-z]{3,5})")
        fields.append(item)
    return re.compile("".join(parts), re.IGNORECASE), tuple(fields)


def _parse_pattern(value: str, pattern: str) -> datetime:
    regex, fields = _reader(pattern)
    m = regex.match(value)
    if m is None:
        raise HelperError(f"cannot read {value[:40]!r} with inputFormat {pattern[:40]!r}")
    got: dict[str, int] = {}
    pm: bool | None = None
    zone: tzinfo | None = None
    for (letter, count), text in zip(fields, m.groups(), strict=True):
        if letter in "ML" and not text.isdigit():
            names = [month[:3].lower() for month in _MONTHS]
            if text[:3].lower() not in names:
                raise HelperError(f"unknown month {text!r}")
            got["M"] = names.index(text[:3].lower()) + 1
        elif letter == "a":
            pm = text[0] in "Pp"
        elif letter in "zZX":
            zone = _zone_from_text(text)
        elif letter in "yY":
            year = int(text)
            if count <= 2 and len(text) == 2:
                year = _two_digit_year(year)
            got["y"] = year
        elif letter in _NUMERIC or letter in "ML":
            got["M" if letter == "L" else letter] = int(text)
    try:
        hour = got.get("H", got.get("k", 0) % 24)
        if "h" in got or "K" in got:
            hour = got.get("h", got.get("K", 0)) % 12 + (12 if pm else 0)
        elif pm and hour < 12:
            hour += 12
        if "D" in got and "M" not in got and "d" not in got:
            start = datetime(got.get("y", 1970), 1, 1) + timedelta(days=got["D"] - 1)
            year, month, day = start.year, start.month, start.day
        else:
            year, month, day = got.get("y", 1970), got.get("M", 1), got.get("d", 1)
        return datetime(year, month, day, hour, got.get("m", 0), got.get("s", 0), got.get("S", 0) * 1000, zone)
    except (ValueError, OverflowError):
        raise HelperError(f"cannot read {value[:40]!r} with inputFormat {pattern[:40]!r}") from None


def _zone_from_text(text: str) -> tzinfo:
    upper = text.upper()
    if upper in ("Z", "UTC", "GMT"):
        return UTC
    m = _OFFSET.fullmatch(upper)
    if m is None:
        raise HelperError(f"unsupported time zone {text!r} in the date")
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    sign = -1 if m.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _two_digit_year(yy: int) -> int:
    """Java's rule: the year within 80 years before and 20 after today."""
    this_year = datetime.now(UTC).year
    year = this_year - this_year % 100 + yy
    if year > this_year + 20:
        year -= 100
    elif year <= this_year - 80:
        year += 100
    return year
