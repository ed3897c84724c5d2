"""How Pinpoint writes values on the wire."""

from datetime import UTC, datetime


def iso8601(value: datetime | None) -> str | None:
    """Pinpoint's timestamp strings: UTC, milliseconds, a Z suffix (2026-11-28T18:15:19.120Z)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
