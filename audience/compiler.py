"""The segment compiler: Pinpoint segment definitions → one set-based SQL condition on endpoints.

This is the only place that knows how segments become SQL. Everything is a Django Q over
`Endpoint` (with EXISTS subqueries for user attributes and source segments), so a segment's
members are one query, streamable in keyset batches, and countable without touching Python.

Each predicate is strictly TRUE or FALSE (never SQL NULL), so NOT (Type/SourceType/Include NONE)
means "does not match", as Pinpoint's rules say, also for endpoints lacking the attribute.

On PostgreSQL, INCLUSIVE attribute dimensions compile to jsonb containment (`@>`), which the GIN
jsonb_path_ops indexes serve; the other attribute types scan the array of values.
"""

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import BooleanField, Exists, F, FloatField, OuterRef, Q
from django.db.models.expressions import Expression
from django.db.models.fields.json import HasKey, KeyTextTransform
from django.db.models.functions import ASin, Cast, Cos, Power, Radians, Sin, Sqrt
from django.db.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual

from audience.models import AudienceUser, ChannelType

ATTRIBUTE_TYPES = ("INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN")
METRIC_OPERATORS = ("GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL")
RECENCY = {
    "HR_24": timedelta(hours=24),
    "DAY_7": timedelta(days=7),
    "DAY_14": timedelta(days=14),
    "DAY_30": timedelta(days=30),
}
DEMOGRAPHIC_COLUMNS = {
    "AppVersion": "app_version",
    "Channel": "channel_type",
    "Make": "make",
    "Model": "model",
    "Platform": "platform",
}
COMBINATIONS = ("ALL", "ANY", "NONE")
MAX_DIMENSIONS = 100
EARTH_RADIUS_KM = 6371.0088
DEFAULT_RANGE_KM = 100.0
# The ISO-8601 shapes date dimensions accept, the same in SQL and in Python.
ISO_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:\d{2})?$"


class SegmentInvalid(ValueError):
    """The segment definition breaks Pinpoint's rules; the message says how, for the client."""


# A callable giving the condition of a source segment: (segment id, pinned version or None) -> Q.
SourceResolver = Callable[[str, int | None], Q]


class _AnyValue(Expression):
    """TRUE when some value of the list `field -> name` satisfies a per-database predicate."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, field: str | Expression, name: str, kind: str, operands: Sequence[str]) -> None:
        super().__init__()
        self.source = F(field) if isinstance(field, str) else field
        self.name, self.kind, self.operands = name, kind, list(operands)

    def __repr__(self) -> str:
        return f"_AnyValue({self.source}.{self.name} {self.kind} {self.operands})"

    def get_source_expressions(self) -> list:
        return [self.source]

    def set_source_expressions(self, exprs) -> None:
        (self.source,) = exprs

    def as_postgresql(self, compiler, connection):
        column, column_params = compiler.compile(self.source)
        if self.kind == "INCLUSIVE":
            sql = " OR ".join([f"{column} @> %s::jsonb"] * len(self.operands))
            containment = [json.dumps({self.name: [value]}) for value in self.operands]
            return f"({sql})", [p for value in containment for p in (*column_params, value)]
        predicate, params = self._postgresql_predicate()
        values = (
            f"jsonb_array_elements_text(CASE WHEN jsonb_typeof({column} -> %s) = 'array' "
            f"THEN {column} -> %s ELSE '[]'::jsonb END)"
        )
        return (
            f"EXISTS (SELECT 1 FROM {values} AS v(value) WHERE {predicate})",
            [*column_params, self.name, *column_params, self.name, *params],
        )

    def as_sqlite(self, compiler, connection):
        # Walk the map's keys rather than a JSON path, so any attribute name works (quotes, dots).
        column, column_params = compiler.compile(self.source)
        predicate, params = self._sqlite_predicate()
        return (
            f"EXISTS (SELECT 1 FROM json_each({column}) AS named, json_each(named.value) AS listed "
            f"WHERE named.key = %s AND ({predicate}))",
            [*column_params, self.name, *params],
        )

    def _postgresql_predicate(self) -> tuple[str, list]:
        if self.kind == "CONTAINS":
            return " OR ".join(["strpos(v.value, %s) > 0"] * len(self.operands)), self.operands
        moment = "(CASE WHEN v.value ~ %s THEN engage_try_timestamptz(v.value) END)"
        if self.kind == "ON":
            sql = f"({moment} AT TIME ZONE 'UTC')::date = (%s::timestamptz AT TIME ZONE 'UTC')::date"
            return sql, [ISO_DATE_PATTERN, *self.operands]
        sql = _date_comparison(self.kind, moment, "%s::timestamptz")
        params = [ISO_DATE_PATTERN, self.operands[0]]
        if self.kind == "BETWEEN":
            params = [ISO_DATE_PATTERN, self.operands[0], ISO_DATE_PATTERN, self.operands[1]]
        return sql, params

    def _sqlite_predicate(self) -> tuple[str, list]:
        if self.kind == "CONTAINS":
            return " OR ".join(["instr(listed.value, %s) > 0"] * len(self.operands)), self.operands
        if self.kind == "INCLUSIVE":
            return " OR ".join(["listed.value = %s"] * len(self.operands)), self.operands
        guard = "listed.type = 'text' AND listed.value REGEXP %s AND julianday(listed.value) IS NOT NULL AND "
        if self.kind == "ON":
            return guard + "date(listed.value) = date(%s)", [ISO_DATE_PATTERN, *self.operands]
        return guard + _date_comparison(self.kind, "julianday(listed.value)", "julianday(%s)"), [
            ISO_DATE_PATTERN,
            *self.operands,
        ]


def _date_comparison(kind: str, moment: str, operand: str) -> str:
    if kind == "BEFORE":
        return f"{moment} < {operand}"
    if kind == "AFTER":
        return f"{moment} > {operand}"
    return f"({moment} >= {operand} AND {moment} <= {operand})"  # BETWEEN, inclusive


def parse_iso(value: str) -> datetime | None:
    """A date dimension's reading of an attribute value (None: not a date), as the SQL reads it."""
    if not isinstance(value, str) or not re.match(ISO_DATE_PATTERN, value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _require(mapping: object, member: str) -> Mapping:
    if not isinstance(mapping, Mapping):
        raise SegmentInvalid(f"{member} must be an object.")
    return mapping


def _values(dimension: Mapping, member: str) -> list[str]:
    values = dimension.get("Values")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise SegmentInvalid(f"{member}.Values must be a non-empty list of strings.")
    if any(len(v) > 100 for v in values):
        raise SegmentInvalid(f"{member}.Values may hold values of at most 100 characters.")
    return values


def _attribute(field: str, name: str, dimension: object, member: str) -> tuple[Q, bool]:
    """The positive condition of an attribute dimension, and whether the dimension negates it."""
    dimension = _require(dimension, f"{member}.{name}")
    kind = dimension.get("AttributeType", "INCLUSIVE")
    if kind not in ATTRIBUTE_TYPES:
        raise SegmentInvalid(f"{member}.{name}.AttributeType must be one of {', '.join(ATTRIBUTE_TYPES)}.")
    values = _values(dimension, f"{member}.{name}")
    if kind in ("BEFORE", "AFTER", "ON", "BETWEEN"):
        if any(parse_iso(v) is None for v in values):
            raise SegmentInvalid(f"{member}.{name}: {kind} needs ISO-8601 dates, e.g. 2026-11-28T00:00:00Z.")
        expected = 2 if kind == "BETWEEN" else 1
        if len(values) != expected:
            raise SegmentInvalid(f"{member}.{name}: {kind} takes exactly {expected} value(s).")
        values = [parse_iso(v).isoformat() for v in values]
    if kind == "EXCLUSIVE":
        return Q(_AnyValue(field, name, "INCLUSIVE", values)), True
    return Q(_AnyValue(field, name, kind, values)), False


def attribute_has_any(name: str, values: Sequence[str], *, field: str = "attributes") -> Q:
    """Endpoints listing one of `values` under attribute `name` (an INCLUSIVE dimension); used by
    the Audience filters too, so both read attributes the same way."""
    return Q(_AnyValue(field, name, "INCLUSIVE", values))


def _endpoint_attribute(name: str, dimension: object) -> Q:
    condition, negate = _attribute("attributes", name, dimension, "Attributes")
    return ~condition if negate else condition


def _user_attribute(name: str, dimension: object) -> Q:
    # EXCLUSIVE means "no value of the user's attribute matches", which includes endpoints
    # without a user: negate the existence of a matching user.
    condition, negate = _attribute("attributes", name, dimension, "UserAttributes")
    users = AudienceUser.objects.filter(project_id=OuterRef("project_id"), user_id=OuterRef("user_id")).filter(
        condition
    )
    return ~Q(Exists(users)) if negate else Q(Exists(users))


def _metric(name: str, dimension: object) -> Q:
    dimension = _require(dimension, f"Metrics.{name}")
    operator = dimension.get("ComparisonOperator")
    if operator not in METRIC_OPERATORS:
        raise SegmentInvalid(f"Metrics.{name}.ComparisonOperator must be one of {', '.join(METRIC_OPERATORS)}.")
    value = dimension.get("Value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SegmentInvalid(f"Metrics.{name}.Value must be a number.")
    comparison = {
        "GREATER_THAN": GreaterThan,
        "LESS_THAN": LessThan,
        "GREATER_THAN_OR_EQUAL": GreaterThanOrEqual,
        "LESS_THAN_OR_EQUAL": LessThanOrEqual,
        "EQUAL": Exact,
    }[operator]
    # Expressions, not keyword lookups, so any metric name works (even one containing "__").
    number = Cast(KeyTextTransform(name, "metrics"), FloatField())
    return Q(HasKey(F("metrics"), name)) & Q(comparison(number, float(value)))


def _set_dimension(column: str, dimension: object, member: str) -> Q:
    dimension = _require(dimension, member)
    kind = dimension.get("DimensionType", "INCLUSIVE")
    if kind not in ("INCLUSIVE", "EXCLUSIVE"):
        raise SegmentInvalid(f"{member}.DimensionType must be INCLUSIVE or EXCLUSIVE.")
    condition = Q(**{f"{column}__in": _values(dimension, member)})
    return condition if kind == "INCLUSIVE" else ~condition


def _gps(point: object) -> Q:
    point = _require(point, "Location.GPSPoint")
    coordinates = _require(point.get("Coordinates"), "Location.GPSPoint.Coordinates")
    lat, lon = coordinates.get("Latitude"), coordinates.get("Longitude")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)) or not (
        -90 <= lat <= 90 and -180 <= lon <= 180
    ):
        raise SegmentInvalid("Location.GPSPoint.Coordinates needs a Latitude (-90..90) and Longitude (-180..180).")
    radius = point.get("RangeInKilometers", DEFAULT_RANGE_KM)
    if isinstance(radius, bool) or not isinstance(radius, int | float) or not 0 <= radius <= 20040:
        raise SegmentInvalid("Location.GPSPoint.RangeInKilometers must be between 0 and 20040.")
    lat_r, lon_r = math.radians(lat), math.radians(lon)
    haversine = Power(Sin((Radians("latitude") - lat_r) / 2), 2) + Cos(Radians("latitude")) * math.cos(lat_r) * Power(
        Sin((Radians("longitude") - lon_r) / 2), 2
    )
    distance = 2 * EARTH_RADIUS_KM * ASin(Sqrt(haversine, output_field=FloatField()))
    within = Q(latitude__isnull=False, longitude__isnull=False)
    # A latitude band first: a cheap, indexable pre-filter before the trigonometry.
    band = radius / 111.19 + 0.01
    within &= Q(latitude__gte=lat - band, latitude__lte=lat + band)
    return within & Q(_LessOrEqual(distance, float(radius)))


class _LessOrEqual(Expression):
    output_field = BooleanField()
    conditional = True

    def __init__(self, left: Expression, right: float) -> None:
        super().__init__()
        self.left, self.right = left, right

    def get_source_expressions(self):
        return [self.left]

    def set_source_expressions(self, exprs):
        (self.left,) = exprs

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.left)
        return f"({sql}) <= %s", [*params, self.right]


def compile_dimensions(dimensions: object, *, now: datetime) -> Q:
    """One SegmentDimensions object: every criterion given must match (AND)."""
    dimensions = _require(dimensions, "Dimensions")
    conditions: list[Q] = []
    for name, dimension in _require(dimensions.get("Attributes", {}), "Attributes").items():
        conditions.append(_endpoint_attribute(name, dimension))
    for name, dimension in _require(dimensions.get("UserAttributes", {}), "UserAttributes").items():
        conditions.append(_user_attribute(name, dimension))
    for name, dimension in _require(dimensions.get("Metrics", {}), "Metrics").items():
        conditions.append(_metric(name, dimension))
    behavior = _require(dimensions.get("Behavior", {}), "Behavior")
    if "Recency" in behavior:
        recency = _require(behavior["Recency"], "Behavior.Recency")
        if recency.get("Duration") not in RECENCY or recency.get("RecencyType") not in ("ACTIVE", "INACTIVE"):
            raise SegmentInvalid(
                "Behavior.Recency needs Duration (HR_24, DAY_7, DAY_14, DAY_30) and RecencyType (ACTIVE, INACTIVE)."
            )
        active = Q(last_active_at__isnull=False, last_active_at__gte=now - RECENCY[recency["Duration"]])
        conditions.append(active if recency["RecencyType"] == "ACTIVE" else ~active)
    demographic = _require(dimensions.get("Demographic", {}), "Demographic")
    for member, dimension in demographic.items():
        if member == "DeviceType":
            raise SegmentInvalid("Engage does not support the Demographic.DeviceType dimension yet.")
        if member not in DEMOGRAPHIC_COLUMNS:
            raise SegmentInvalid(f"Demographic.{member} is not a segment dimension.")
        if member == "Channel":
            unknown = set(_values(_require(dimension, "Demographic.Channel"), "Demographic.Channel")) - set(
                ChannelType.values
            )
            if unknown:
                raise SegmentInvalid(f"Demographic.Channel has unknown channels: {', '.join(sorted(unknown))}.")
        conditions.append(_set_dimension(DEMOGRAPHIC_COLUMNS[member], dimension, f"Demographic.{member}"))
    location = _require(dimensions.get("Location", {}), "Location")
    if "Country" in location:
        conditions.append(_set_dimension("country", location["Country"], "Location.Country"))
    if "GPSPoint" in location:
        conditions.append(_gps(location["GPSPoint"]))
    if len(conditions) > MAX_DIMENSIONS:
        raise SegmentInvalid(f"A segment can have at most {MAX_DIMENSIONS} dimensions.")
    return _combine(conditions, "ALL")


# "Every endpoint" as a real condition: an empty Q() would vanish under negation.
EVERYTHING = Q(pk__isnull=False)


def _combine(conditions: list[Q], how: str) -> Q:
    if how not in COMBINATIONS:
        raise SegmentInvalid(f"Combinations must be one of {', '.join(COMBINATIONS)}.")
    if not conditions:
        return EVERYTHING
    if how == "ALL":
        result = conditions[0]
        for condition in conditions[1:]:
            result &= condition
        return result
    anything = conditions[0]
    for condition in conditions[1:]:
        anything |= condition
    return anything if how == "ANY" else ~anything


def compile_segment(definition: Mapping[str, Any], *, now: datetime, resolve_source: SourceResolver) -> Q:
    """A WriteSegmentRequest's Dimensions or SegmentGroups → the Q its members satisfy.

    Defaults where Pinpoint leaves them open: group Type ALL, SourceType ANY, Include ALL; a group
    without source segments starts from every endpoint of the project.
    """
    dimensions, groups = definition.get("Dimensions"), definition.get("SegmentGroups")
    if dimensions is not None and groups is not None:
        raise SegmentInvalid("A segment has Dimensions or SegmentGroups, not both.")
    if groups is None:
        return compile_dimensions(dimensions or {}, now=now)
    groups = _require(groups, "SegmentGroups")
    group_list = groups.get("Groups") or []
    if not isinstance(group_list, list):
        raise SegmentInvalid("SegmentGroups.Groups must be a list.")
    compiled = [
        _group(_require(g, "SegmentGroups.Groups[]"), now=now, resolve_source=resolve_source) for g in group_list
    ]
    return _combine(compiled, groups.get("Include", "ALL"))


def _group(group: Mapping[str, Any], *, now: datetime, resolve_source: SourceResolver) -> Q:
    sources = group.get("SourceSegments") or []
    dimension_list = group.get("Dimensions") or []
    if not isinstance(sources, list) or not isinstance(dimension_list, list):
        raise SegmentInvalid("SourceSegments and Dimensions of a segment group must be lists.")
    base = []
    for reference in sources:
        reference = _require(reference, "SourceSegments[]")
        segment_id, version = reference.get("Id"), reference.get("Version")
        if not isinstance(segment_id, str) or not segment_id:
            raise SegmentInvalid("Every source segment needs an Id.")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise SegmentInvalid("A source segment's Version must be a positive whole number.")
        base.append(resolve_source(segment_id, version))
    dims = [compile_dimensions(d, now=now) for d in dimension_list]
    return _combine(base, group.get("SourceType", "ANY")) & _combine(dims, group.get("Type", "ALL"))
