"""A straightforward Python reading of Pinpoint's segment rules, to check the compiler against.

Deliberately naive: one endpoint at a time, no SQL. It shares only `parse_iso` (how a date
dimension reads a value) with the code under test.
"""

import math
from datetime import UTC, datetime

from audience.compiler import DEFAULT_RANGE_KM, EARTH_RADIUS_KM, RECENCY, parse_iso

COLUMNS = {
    "AppVersion": "app_version",
    "Channel": "channel_type",
    "Make": "make",
    "Model": "model",
    "Platform": "platform",
}


def _combine(results: list[bool], how: str) -> bool:
    if how == "ALL":
        return all(results)
    if how == "ANY":
        return any(results)
    return not any(results)


def _attribute(values: list[str] | None, dimension: dict) -> bool:
    values = values or []
    kind = dimension.get("AttributeType", "INCLUSIVE")
    wanted = dimension["Values"]
    if kind == "INCLUSIVE":
        return any(v in wanted for v in values)
    if kind == "EXCLUSIVE":
        return not any(v in wanted for v in values)
    if kind == "CONTAINS":
        return any(w in v for v in values for w in wanted)
    moments = [m for m in (parse_iso(v) for v in values) if m is not None]
    bounds = [parse_iso(w) for w in wanted]
    if kind == "BEFORE":
        return any(m < bounds[0] for m in moments)
    if kind == "AFTER":
        return any(m > bounds[0] for m in moments)
    if kind == "ON":
        return any(m.astimezone(UTC).date() == bounds[0].astimezone(UTC).date() for m in moments)
    return any(bounds[0] <= m <= bounds[1] for m in moments)


def _metric(metrics: dict, name: str, dimension: dict) -> bool:
    if name not in metrics:
        return False
    value, target = metrics[name], dimension["Value"]
    return {
        "GREATER_THAN": value > target,
        "LESS_THAN": value < target,
        "GREATER_THAN_OR_EQUAL": value >= target,
        "LESS_THAN_OR_EQUAL": value <= target,
        "EQUAL": value == target,
    }[dimension["ComparisonOperator"]]


def _set(value: str, dimension: dict) -> bool:
    inside = value in dimension["Values"]
    return inside if dimension.get("DimensionType", "INCLUSIVE") == "INCLUSIVE" else not inside


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def matches_dimensions(endpoint: dict, dimensions: dict, now: datetime) -> bool:
    checks = []
    for name, dimension in dimensions.get("Attributes", {}).items():
        checks.append(_attribute(endpoint["attributes"].get(name), dimension))
    for name, dimension in dimensions.get("UserAttributes", {}).items():
        checks.append(_attribute(endpoint["user_attributes"].get(name), dimension))
    for name, dimension in dimensions.get("Metrics", {}).items():
        checks.append(_metric(endpoint["metrics"], name, dimension))
    recency = dimensions.get("Behavior", {}).get("Recency")
    if recency:
        last = endpoint["last_active_at"]
        active = last is not None and last >= now - RECENCY[recency["Duration"]]
        checks.append(active if recency["RecencyType"] == "ACTIVE" else not active)
    for member, dimension in dimensions.get("Demographic", {}).items():
        checks.append(_set(endpoint[COLUMNS[member]], dimension))
    location = dimensions.get("Location", {})
    if "Country" in location:
        checks.append(_set(endpoint["country"], location["Country"]))
    if "GPSPoint" in location:
        point = location["GPSPoint"]
        lat, lon = endpoint["latitude"], endpoint["longitude"]
        coordinates = point["Coordinates"]
        checks.append(
            lat is not None
            and lon is not None
            and _distance_km(coordinates["Latitude"], coordinates["Longitude"], lat, lon)
            <= point.get("RangeInKilometers", DEFAULT_RANGE_KM)
        )
    return all(checks)


def matches(endpoint: dict, definition: dict, now: datetime, sources: dict[str, set[str]]) -> bool:
    """Is this endpoint (a dict of its fields) a member of the segment? Only ACTIVE ones are."""
    if endpoint["status"] != "ACTIVE":
        return False
    if "SegmentGroups" not in definition:
        return matches_dimensions(endpoint, definition.get("Dimensions", {}), now)
    groups = definition["SegmentGroups"]
    results = []
    for group in groups.get("Groups", []):
        base = [endpoint["key"] in sources[ref["Id"]] for ref in group.get("SourceSegments", [])]
        dims = [matches_dimensions(endpoint, d, now) for d in group.get("Dimensions", [])]
        in_base = _combine(base, group.get("SourceType", "ANY")) if base else True
        in_dims = _combine(dims, group.get("Type", "ALL")) if dims else True
        results.append(in_base and in_dims)
    return _combine(results, groups.get("Include", "ALL")) if results else True
