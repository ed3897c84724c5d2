"""The segment builder's form data ↔ a Pinpoint segment definition (an adapter: no queries).

The builder posts flat fields, one set per segment group G and criterion C:

    name, include                      SegmentGroups.Include (ALL, ANY, NONE)
    gG-type, gG-source_type            the group's Type (ALL, ANY, NONE) and SourceType (ANY, ALL)
    gG-sources                         base segments: "<id>" or "<id>@<version>" (pinned), repeated
    gG-cC-kind, gG-cC-dim              the criterion's kind (a key of KINDS) and the SegmentDimensions
                                       object it belongs to: criteria sharing `dim` are ANDed in one
                                       object, as a definition written through the API may do
    gG-cC-name, -operator, -values     attribute/metric name, operator, values one per line
    gG-cC-number, -latitude, -longitude, -range_km, -duration

Like Pinpoint's console, each criterion the builder adds is its own SegmentDimensions object in
the group's `Dimensions`, combined by the group's Type; the builder always writes SegmentGroups.
`builder_from_definition` reads any definition back (top-level Dimensions become one group) or
raises BuilderUnsupported for what the builder cannot show without changing its meaning.
"""

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_GROUPS = 2  # Pinpoint's console offers two segment groups; more are shown if the API wrote them
INCLUDE_CHOICES = (("ALL", "in both groups (AND)"), ("ANY", "in either group (OR)"), ("NONE", "in neither group"))
GROUP_TYPES = (("ALL", "all of the criteria (AND)"), ("ANY", "any of the criteria (OR)"), ("NONE", "none of them"))
SOURCE_TYPES = (("ANY", "any of these segments"), ("ALL", "all of these segments"))
ATTRIBUTE_OPERATORS = (
    ("INCLUSIVE", "is one of"),
    ("EXCLUSIVE", "is none of"),
    ("CONTAINS", "contains"),
    ("BEFORE", "is before"),
    ("AFTER", "is after"),
    ("ON", "is on"),
    ("BETWEEN", "is between"),
)
METRIC_OPERATORS = (
    ("GREATER_THAN", "is greater than"),
    ("GREATER_THAN_OR_EQUAL", "is at least"),
    ("EQUAL", "equals"),
    ("LESS_THAN_OR_EQUAL", "is at most"),
    ("LESS_THAN", "is less than"),
)
SET_OPERATORS = (("INCLUSIVE", "is"), ("EXCLUSIVE", "is not"))
RECENCY_OPERATORS = (("ACTIVE", "was active"), ("INACTIVE", "was not active"))
DURATIONS = (
    ("HR_24", "in the last 24 hours"),
    ("DAY_7", "in the last 7 days"),
    ("DAY_14", "in the last 14 days"),
    ("DAY_30", "in the last 30 days"),
)
_INTEGER = re.compile(r"^[+-]?\d+$")


class BuilderInvalid(ValueError):
    """The posted builder cannot become a definition; the message says where and why."""


class BuilderUnsupported(ValueError):
    """A stored definition the builder cannot show without changing its meaning."""


@dataclass(frozen=True)
class Kind:
    """One kind of criterion: where it sits in SegmentDimensions and which fields it takes."""

    label: str
    path: tuple[str, ...]  # e.g. ("Demographic", "Channel"); named kinds add the name below it
    layout: str  # "named", "metric", "set", "gps" or "recency": a key of _LAYOUTS
    operators: tuple[tuple[str, str], ...] = ()
    values_hint: str = ""


KINDS: dict[str, Kind] = {
    "attribute": Kind(
        "Endpoint attribute", ("Attributes",), "named", ATTRIBUTE_OPERATORS, "One value per line; two for between."
    ),
    "user_attribute": Kind(
        "User attribute", ("UserAttributes",), "named", ATTRIBUTE_OPERATORS, "One value per line; two for between."
    ),
    "metric": Kind("Metric", ("Metrics",), "metric", METRIC_OPERATORS),
    "channel": Kind("Channel", ("Demographic", "Channel"), "set", SET_OPERATORS),
    "platform": Kind("Platform", ("Demographic", "Platform"), "set", SET_OPERATORS, "One per line, e.g. iOS."),
    "app_version": Kind("App version", ("Demographic", "AppVersion"), "set", SET_OPERATORS, "One per line."),
    "make": Kind("Device make", ("Demographic", "Make"), "set", SET_OPERATORS, "One per line, e.g. Apple."),
    "model": Kind("Device model", ("Demographic", "Model"), "set", SET_OPERATORS, "One per line, e.g. iPhone."),
    "country": Kind("Country", ("Location", "Country"), "set", SET_OPERATORS, "ISO codes, one per line, e.g. US."),
    "gps": Kind("Near a GPS point", ("Location", "GPSPoint"), "gps"),
    "recency": Kind("Recent activity", ("Behavior", "Recency"), "recency", RECENCY_OPERATORS),
}
_NAMED = {kind.path[0]: key for key, kind in KINDS.items() if kind.layout in ("named", "metric")}
_NESTED = {kind.path: key for key, kind in KINDS.items() if len(kind.path) == 2}


@dataclass
class Criterion:
    """One criterion as typed: raw strings, so a half-typed form round-trips unchanged."""

    kind: str
    dim: str = ""
    name: str = ""
    operator: str = ""
    values: str = ""
    number: str = ""
    latitude: str = ""
    longitude: str = ""
    range_km: str = ""
    duration: str = ""
    added: bool = False  # just added by builder_change: the page focuses it

    @property
    def spec(self) -> Kind | None:
        return KINDS.get(self.kind)

    @property
    def value_list(self) -> list[str]:
        return [line.strip() for line in self.values.splitlines() if line.strip()]


@dataclass
class Group:
    type: str = "ALL"
    source_type: str = "ANY"
    sources: list[str] = field(default_factory=list)  # "<id>" or "<id>@<version>"
    criteria: list[Criterion] = field(default_factory=list)

    def next_dim(self) -> str:
        numbers = [int(c.dim) for c in self.criteria if c.dim.isdigit()]
        return str(max(numbers, default=-1) + 1)


@dataclass
class Builder:
    include: str = "ALL"
    groups: list[Group] = field(default_factory=lambda: [Group()])

    @property
    def can_add_group(self) -> bool:
        return len(self.groups) < MAX_GROUPS


@dataclass(frozen=True)
class CriterionRow:
    criterion: Criterion
    index: int
    number: int
    prefix: str  # "gG-cC-": the names of its fields
    joined: bool  # shares its SegmentDimensions object with the criterion before it (AND)


@dataclass(frozen=True)
class GroupRow:
    group: Group
    index: int
    number: int
    prefix: str
    criteria: list[CriterionRow]


def builder_rows(builder: Builder) -> list[GroupRow]:
    """The groups and criteria with the field names the page gives them, for rendering."""
    rows = []
    for g, group in enumerate(builder.groups):
        criteria, previous = [], None
        for c, criterion in enumerate(group.criteria):
            joined = previous is not None and criterion.dim == previous.dim
            criteria.append(CriterionRow(criterion, c, c + 1, f"g{g}-c{c}-", joined))
            previous = criterion
        rows.append(GroupRow(group, g, g + 1, f"g{g}-", criteria))
    return rows


def _getlist(data: Mapping, key: str) -> list[str]:
    if hasattr(data, "getlist"):
        return [str(v) for v in data.getlist(key)]
    value = data.get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _get(data: Mapping, key: str, default: str = "") -> str:
    values = _getlist(data, key)
    return values[-1] if values else default


def _indices(data: Mapping, pattern: str) -> list[int]:
    found = {int(m.group(1)) for key in data for m in [re.fullmatch(pattern, key)] if m}
    return sorted(found)


def builder_from_form(data: Mapping) -> Builder:
    """The builder as posted (never raises: validation happens in definition_from_builder)."""
    groups = []
    for g in _indices(data, r"g(\d+)-type"):
        criteria = []
        for c in _indices(data, rf"g{g}-c(\d+)-kind"):
            prefix = f"g{g}-c{c}-"
            criteria.append(
                Criterion(
                    kind=_get(data, prefix + "kind"),
                    dim=_get(data, prefix + "dim") or f"new{c}",
                    name=_get(data, prefix + "name").strip(),
                    operator=_get(data, prefix + "operator"),
                    values="\n".join(_getlist(data, prefix + "values")),
                    number=_get(data, prefix + "number").strip(),
                    latitude=_get(data, prefix + "latitude").strip(),
                    longitude=_get(data, prefix + "longitude").strip(),
                    range_km=_get(data, prefix + "range_km").strip(),
                    duration=_get(data, prefix + "duration"),
                )
            )
        groups.append(
            Group(
                type=_get(data, f"g{g}-type", "ALL"),
                source_type=_get(data, f"g{g}-source_type", "ANY"),
                sources=[s for s in _getlist(data, f"g{g}-sources") if s],
                criteria=criteria,
            )
        )
    return Builder(include=_get(data, "include", "ALL"), groups=groups or [Group()])


def form_data(builder: Builder) -> dict[str, list[str]]:
    """The fields the builder's page posts for this builder (the inverse of builder_from_form)."""
    data: dict[str, list[str]] = {"include": [builder.include]}
    for g, group in enumerate(builder.groups):
        data[f"g{g}-type"] = [group.type]
        data[f"g{g}-source_type"] = [group.source_type]
        data[f"g{g}-sources"] = list(group.sources)
        for c, criterion in enumerate(group.criteria):
            prefix = f"g{g}-c{c}-"
            for name in ("kind", "dim", "name", "operator", "number", "latitude", "longitude", "range_km", "duration"):
                data[prefix + name] = [getattr(criterion, name)]
            data[prefix + "values"] = criterion.value_list if criterion.kind == "channel" else [criterion.values]
    return data


def _number(text: str, what: str) -> int | float:
    if _INTEGER.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        raise BuilderInvalid(f"{what} must be a number, not “{text}”.") from None
    if not math.isfinite(number):
        raise BuilderInvalid(f"{what} must be a finite number.")
    return number


def _operator(criterion: Criterion, spec: Kind, where: str) -> str:
    if criterion.operator not in dict(spec.operators):
        raise BuilderInvalid(f"{where}: choose an operator.")
    return criterion.operator


def _named_leaf(criterion: Criterion, spec: Kind, where: str) -> dict[str, Any]:
    operator = _operator(criterion, spec, where)
    values = criterion.value_list
    expected = {"BEFORE": 1, "AFTER": 1, "ON": 1, "BETWEEN": 2}.get(operator)
    if not values:
        raise BuilderInvalid(f"{where}: enter at least one value.")
    if expected and len(values) != expected:
        raise BuilderInvalid(f"{where}: “{dict(spec.operators)[operator]}” takes {expected} date(s), one per line.")
    return {"AttributeType": operator, "Values": values}


def _metric_leaf(criterion: Criterion, spec: Kind, where: str) -> dict[str, Any]:
    operator = _operator(criterion, spec, where)
    if not criterion.number:
        raise BuilderInvalid(f"{where}: enter a number.")
    return {"ComparisonOperator": operator, "Value": _number(criterion.number, f"{where}: the value")}


def _set_leaf(criterion: Criterion, spec: Kind, where: str) -> dict[str, Any]:
    operator = _operator(criterion, spec, where)
    if not criterion.value_list:
        raise BuilderInvalid(f"{where}: choose or enter at least one value.")
    return {"DimensionType": operator, "Values": criterion.value_list}


def _gps_leaf(criterion: Criterion, spec: Kind, where: str) -> dict[str, Any]:
    if not criterion.latitude or not criterion.longitude:
        raise BuilderInvalid(f"{where}: enter a latitude and a longitude.")
    leaf: dict[str, Any] = {
        "Coordinates": {
            "Latitude": _number(criterion.latitude, f"{where}: the latitude"),
            "Longitude": _number(criterion.longitude, f"{where}: the longitude"),
        }
    }
    if criterion.range_km:
        leaf["RangeInKilometers"] = _number(criterion.range_km, f"{where}: the range")
    return leaf


def _recency_leaf(criterion: Criterion, spec: Kind, where: str) -> dict[str, Any]:
    operator = _operator(criterion, spec, where)
    if criterion.duration not in dict(DURATIONS):
        raise BuilderInvalid(f"{where}: choose a period.")
    return {"Duration": criterion.duration, "RecencyType": operator}


_LAYOUTS: dict[str, Callable[[Criterion, Kind, str], dict[str, Any]]] = {
    "named": _named_leaf,
    "metric": _metric_leaf,
    "set": _set_leaf,
    "gps": _gps_leaf,
    "recency": _recency_leaf,
}


def _place(dimensions: dict[str, Any], path: tuple[str, ...], leaf: dict[str, Any], where: str) -> None:
    node = dimensions
    for member in path[:-1]:
        node = node.setdefault(member, {})
    if path[-1] in node:
        raise BuilderInvalid(f"{where} repeats {'.'.join(path)} in the same set of dimensions.")
    node[path[-1]] = leaf


def _check_choice(value: str, choices: tuple[tuple[str, str], ...], what: str) -> str:
    if value not in dict(choices):
        raise BuilderInvalid(f"{what} must be one of {', '.join(dict(choices))}.")
    return value


def _source_reference(source: str, where: str) -> dict[str, Any]:
    segment_id, _, version = source.partition("@")
    reference: dict[str, Any] = {"Id": segment_id}
    if version:
        if not version.isdigit() or int(version) < 1:
            raise BuilderInvalid(f"{where}: base segment version “{version}” is not a positive whole number.")
        reference["Version"] = int(version)
    return reference


def definition_from_builder(builder: Builder) -> dict[str, Any]:
    """The Pinpoint definition ({"SegmentGroups": ...}) of a builder; raises BuilderInvalid."""
    groups = []
    for g, group in enumerate(builder.groups, start=1):
        objects: dict[str, dict[str, Any]] = {}  # one SegmentDimensions per `dim`, in order of appearance
        for c, criterion in enumerate(group.criteria, start=1):
            spec = criterion.spec
            if spec is None:
                raise BuilderInvalid(f"Group {g}, criterion {c}: unknown kind “{criterion.kind}”.")
            where = f"Group {g}, criterion {c} ({spec.label})"
            path = spec.path
            if spec.layout in ("named", "metric"):
                if not criterion.name:
                    raise BuilderInvalid(f"{where}: enter the {spec.label.lower()} name.")
                path = (*path, criterion.name)
            leaf = _LAYOUTS[spec.layout](criterion, spec, where)
            _place(objects.setdefault(criterion.dim, {}), path, leaf, where)
        written: dict[str, Any] = {
            "Type": _check_choice(group.type, GROUP_TYPES, f"Group {g}'s Type"),
            "SourceType": _check_choice(group.source_type, SOURCE_TYPES, f"Group {g}'s SourceType"),
            "Dimensions": list(objects.values()),
        }
        if group.sources:
            written["SourceSegments"] = [_source_reference(s, f"Group {g}") for s in group.sources]
        groups.append(written)
    include = _check_choice(builder.include, INCLUDE_CHOICES, "Include")
    return {"SegmentGroups": {"Include": include, "Groups": groups}}


def definition_from_form(data: Mapping) -> dict[str, Any]:
    """Posted builder fields → the Pinpoint definition; raises BuilderInvalid."""
    return definition_from_builder(builder_from_form(data))


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BuilderUnsupported(f"The builder cannot show the value {value!r}.")
    return str(value)


def _lines(values: object) -> str:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BuilderUnsupported("The builder shows Values only as a list of strings.")
    if any("\n" in v or "\r" in v or v != v.strip() for v in values):
        raise BuilderUnsupported("The builder cannot show values with line breaks or surrounding spaces.")
    return "\n".join(values)


def _read_named(criterion: Criterion, leaf: Mapping) -> None:
    criterion.operator = leaf.get("AttributeType", "INCLUSIVE")
    criterion.values = _lines(leaf.get("Values"))


def _read_metric(criterion: Criterion, leaf: Mapping) -> None:
    criterion.operator = leaf.get("ComparisonOperator", "")
    criterion.number = _text(leaf.get("Value"))


def _read_set(criterion: Criterion, leaf: Mapping) -> None:
    criterion.operator = leaf.get("DimensionType", "INCLUSIVE")
    criterion.values = _lines(leaf.get("Values"))


def _read_gps(criterion: Criterion, leaf: Mapping) -> None:
    coordinates = leaf.get("Coordinates") or {}
    criterion.latitude = _text(coordinates.get("Latitude"))
    criterion.longitude = _text(coordinates.get("Longitude"))
    if "RangeInKilometers" in leaf:
        criterion.range_km = _text(leaf["RangeInKilometers"])


def _read_recency(criterion: Criterion, leaf: Mapping) -> None:
    criterion.operator = leaf.get("RecencyType", "")
    criterion.duration = leaf.get("Duration", "")


_READERS: dict[str, Callable[[Criterion, Mapping], None]] = {
    "named": _read_named,
    "metric": _read_metric,
    "set": _read_set,
    "gps": _read_gps,
    "recency": _read_recency,
}


def _criterion(kind: str, leaf: object, dim: str, name: str = "") -> Criterion:
    if not isinstance(leaf, Mapping):
        raise BuilderUnsupported(f"{'.'.join(KINDS[kind].path)} is not an object.")
    criterion = Criterion(kind=kind, dim=dim, name=name)
    _READERS[KINDS[kind].layout](criterion, leaf)
    return criterion


def _criteria_of(dimensions: object, dim: str) -> list[Criterion]:
    if not isinstance(dimensions, Mapping):
        raise BuilderUnsupported("A set of dimensions is not an object.")
    found = []
    for member, content in dimensions.items():
        if not isinstance(content, Mapping):
            raise BuilderUnsupported(f"{member} is not an object.")
        for key, leaf in content.items():
            if member in _NAMED:
                found.append(_criterion(_NAMED[member], leaf, dim, key))
            elif (member, key) in _NESTED:
                found.append(_criterion(_NESTED[(member, key)], leaf, dim))
            else:
                raise BuilderUnsupported(f"The builder has no criterion for {member}.{key}.")
    return found


def builder_from_definition(definition: Mapping[str, Any]) -> Builder:
    """The builder showing a stored definition; raises BuilderUnsupported if it cannot be shown as is."""
    if definition.get("SegmentGroups") is None:
        criteria = _criteria_of(definition.get("Dimensions") or {}, "0")
        return Builder(groups=[Group(criteria=criteria)])
    groups_member = definition["SegmentGroups"]
    groups = []
    for written in groups_member.get("Groups") or []:
        group = Group(type=written.get("Type", "ALL"), source_type=written.get("SourceType", "ANY"))
        for reference in written.get("SourceSegments") or []:
            version = reference.get("Version")
            group.sources.append(f"{reference['Id']}@{version}" if version is not None else reference["Id"])
        for index, dimensions in enumerate(written.get("Dimensions") or []):
            criteria = _criteria_of(dimensions, str(index))
            if not criteria and group.type != "ALL":
                # An empty set matches everyone: harmless under ALL, but not to be dropped under ANY/NONE.
                raise BuilderUnsupported("A group combines an empty set of dimensions by ANY or NONE.")
            group.criteria.extend(criteria)
        groups.append(group)
    return Builder(include=groups_member.get("Include", "ALL"), groups=groups or [Group()])


def form_data_from_definition(definition: Mapping[str, Any]) -> dict[str, list[str]]:
    """The builder fields showing a stored definition; raises BuilderUnsupported."""
    return form_data(builder_from_definition(definition))


def builder_change(data: Mapping) -> Builder:
    """The posted builder with the structural change its button asked for (`op`): "add-criterion:G"
    (of kind `gG-add_kind`), "remove-criterion:G:C", "add-group", "remove-group:G". Unknown or
    out-of-range changes change nothing."""
    builder = builder_from_form(data)
    verb, *numbers = _get(data, "op").split(":")
    try:
        indices = [int(n) for n in numbers]
    except ValueError:
        return builder
    groups = builder.groups
    kind = _get(data, f"g{indices[0]}-add_kind") if indices else ""
    if verb == "add-criterion" and len(indices) == 1 and 0 <= indices[0] < len(groups) and kind in KINDS:
        group = groups[indices[0]]
        spec = KINDS[kind]
        group.criteria.append(
            Criterion(
                kind=kind,
                dim=group.next_dim(),
                operator=spec.operators[0][0] if spec.operators else "",
                duration="DAY_30" if spec.layout == "recency" else "",
                added=True,
            )
        )
    elif verb == "remove-criterion" and len(indices) == 2 and 0 <= indices[0] < len(groups):
        criteria = groups[indices[0]].criteria
        if 0 <= indices[1] < len(criteria):
            del criteria[indices[1]]
    elif verb == "add-group" and not indices and builder.can_add_group:
        groups.append(Group())
    elif verb == "remove-group" and len(indices) == 1 and 0 <= indices[0] < len(groups) and len(groups) > 1:
        del groups[indices[0]]
    return builder
