"""Segment verbs and queries: create/update/delete, members, estimates.

Members are always one queryset over Endpoint (ACTIVE endpoints of the project satisfying the
compiled condition), so callers stream them in keyset batches or count them in SQL. Campaigns and
journeys ask here; only audience.compiler knows how definitions become SQL.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, Q, Value, When
from django.utils import timezone

from audience.compiler import SegmentInvalid, compile_segment
from audience.models import Endpoint, OptOut, Segment, SegmentMember, SegmentType, SegmentVersion
from engage import db
from engage.metrics import SEGMENT_ESTIMATE_SECONDS
from projects.models import Project
from projects.services import tags_validate

MAX_SOURCE_DEPTH = 5


def _definition(dimensions: Mapping | None, groups: Mapping | None) -> dict[str, Any]:
    definition: dict[str, Any] = {}
    if dimensions is not None:
        definition["Dimensions"] = dimensions
    if groups is not None:
        definition["SegmentGroups"] = groups
    return definition


def definition_of(segment: Segment, version: int | None = None) -> dict[str, Any]:
    """A dynamic segment's definition, now or at a pinned Version; raises SegmentInvalid."""
    if version is None or version == segment.version:
        return _definition(segment.dimensions, segment.segment_groups)
    stored = SegmentVersion.objects.filter(segment=segment, version=version).first()
    if stored is None:
        raise SegmentInvalid(f"Segment {segment.pk} has no version {version}.")
    return stored.definition


def segment_condition(
    project: Project,
    definition: Mapping[str, Any],
    *,
    now: datetime | None = None,
    _trail: tuple[str, ...] = (),
) -> Q:
    """The Q a definition's members satisfy, resolving source segments of the same project
    (pinned versions honoured). Raises SegmentInvalid (unknown source, cycle, bad definition)."""
    now = now or timezone.now()

    def resolve(segment_id: str, version: int | None) -> Q:
        if segment_id in _trail or len(_trail) >= MAX_SOURCE_DEPTH:
            raise SegmentInvalid(f"Source segment {segment_id} refers back to itself or nests too deep.")
        source = Segment.objects.filter(project=project, pk=segment_id).first()
        if source is None:
            raise SegmentInvalid(f"Source segment {segment_id} does not exist in this project.")
        if source.segment_type == SegmentType.IMPORT:
            return Q(key__in=SegmentMember.objects.filter(segment=source).values("endpoint_key"))
        return segment_condition(project, definition_of(source, version), now=now, _trail=(*_trail, segment_id))

    return compile_segment(definition, now=now, resolve_source=resolve)


def segment_members(project: Project, segment: Segment, *, version: int | None = None, now: datetime | None = None):
    """Every member endpoint of a segment (ACTIVE endpoints only), as one queryset."""
    if segment.segment_type == SegmentType.IMPORT:
        condition = Q(key__in=SegmentMember.objects.filter(segment=segment).values("endpoint_key"))
    else:
        condition = segment_condition(project, definition_of(segment, version), now=now, _trail=(segment.pk,))
    return Endpoint.objects.for_project(project).active().filter(condition)


@dataclass(frozen=True)
class Estimate:
    """A segment's size: members, reachable members (an address and not opted out) per channel.

    `exact` is False when the count came from a sample of the table (large projects, broad
    segments); then the numbers are scaled estimates and `sample_percent` says how much was read.
    """

    total: int
    opted_out: int
    reachable_by_channel: dict[str, int]
    exact: bool = True
    sample_percent: float = 100.0

    @property
    def reachable(self) -> int:
        return sum(self.reachable_by_channel.values())


# How long an exact estimate may take before the builder falls back to a sample (PostgreSQL).
EXACT_ESTIMATE_MS = 200
# A sample reads about this many rows, whatever the table's size.
SAMPLE_ROWS = 50_000


@SEGMENT_ESTIMATE_SECONDS.time()
def estimate(
    project: Project, definition: Mapping[str, Any], *, now: datetime | None = None, exact: bool = False
) -> Estimate:
    """Count a definition's members in one GROUP BY query; raises SegmentInvalid.

    On PostgreSQL an exact count that would take longer than EXACT_ESTIMATE_MS is replaced by the
    same query over a repeatable sample of the table's pages (TABLESAMPLE), scaled up; pass
    exact=True to wait for the exact numbers.
    """
    condition = segment_condition(project, definition, now=now)
    query = (
        Endpoint.objects.for_project(project)
        .active()
        .filter(condition)
        .annotate(addressed=Case(When(address="", then=Value(False)), default=Value(True)))
        .values("channel_type", "opt_out", "addressed")
        .annotate(n=Count("pk"))
        .order_by()
    )
    sql, params = query.query.sql_with_params()
    alias = db.read_alias()
    if exact or not db.is_postgresql(alias):
        return _estimate_from(db.run_within(sql, list(params), milliseconds=0, alias=alias))
    rows = db.run_within(sql, list(params), milliseconds=EXACT_ESTIMATE_MS, alias=alias)
    if rows is not None:
        return _estimate_from(rows)
    table = Endpoint._meta.db_table
    percent = min(100.0, max(0.1, 100.0 * SAMPLE_ROWS / max(db.estimated_rows(table, alias), 1)))
    sampled = db.run_within(db.table_sample(sql, table, percent), list(params), milliseconds=0, alias=alias)
    return _estimate_from(sampled, scale=100.0 / percent, sample_percent=percent)


def sample_members(
    project: Project, definition: Mapping[str, Any], *, limit: int = 10, milliseconds: int = EXACT_ESTIMATE_MS
) -> list[Endpoint] | None:
    """Up to `limit` members (by key), or None when finding them would take longer than
    `milliseconds` on PostgreSQL (a rare match in a table scan). Raises SegmentInvalid.

    No ORDER BY while searching: any members will do and the database stops at the last it needs.
    """
    members = Endpoint.objects.for_project(project).active().filter(segment_condition(project, definition))
    sql, params = members.values_list("key", flat=True)[:limit].query.sql_with_params()
    rows = db.run_within(sql, list(params), milliseconds=milliseconds)
    if rows is None:
        return None
    return list(Endpoint.objects.for_project(project).filter(key__in=[key for (key,) in rows]).order_by("key"))


def _estimate_from(rows: list[tuple], *, scale: float = 1.0, sample_percent: float = 100.0) -> Estimate:
    total = opted_out = 0
    by_channel: dict[str, int] = {}
    for channel, opt_out, addressed, n in rows:
        n = round(n * scale)
        total += n
        if opt_out == OptOut.ALL:
            opted_out += n
        elif addressed:
            by_channel[channel or "UNKNOWN"] = by_channel.get(channel or "UNKNOWN", 0) + n
    return Estimate(
        total=total,
        opted_out=opted_out,
        reachable_by_channel=dict(sorted(by_channel.items())),
        exact=scale == 1.0,
        sample_percent=sample_percent,
    )


def _check(project: Project, definition: dict[str, Any], *, segment_id: str | None) -> None:
    segment_condition(project, definition, _trail=(segment_id,) if segment_id else ())


def segment_create(
    project: Project,
    *,
    name: str,
    dimensions: Mapping | None = None,
    groups: Mapping | None = None,
    tags: Mapping[str, str] | None = None,
) -> Segment:
    """Create a dynamic (DIMENSIONAL) segment at Version 1; raises SegmentInvalid or ValidationError."""
    definition = _definition(dimensions, groups)
    _check(project, definition, segment_id=None)
    with transaction.atomic():
        segment = Segment.objects.create(
            project=project,
            name=name,
            segment_type=SegmentType.DIMENSIONAL,
            dimensions=definition.get("Dimensions"),
            segment_groups=definition.get("SegmentGroups"),
            tags=tags_validate(tags or {}),
        )
        SegmentVersion.objects.create(segment=segment, version=1, name=name, definition=definition)
    return segment


def segment_update(
    segment: Segment,
    *,
    name: str | None = None,
    dimensions: Mapping | None = None,
    groups: Mapping | None = None,
) -> Segment:
    """Write a new Version of a segment (every update is one). Imported segments may only be renamed.
    Raises SegmentInvalid."""
    definition = _definition(dimensions, groups)
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=segment.pk)
        if locked.segment_type == SegmentType.IMPORT and definition:
            raise SegmentInvalid("An imported segment's members come from its import; only its Name can change.")
        if locked.segment_type == SegmentType.DIMENSIONAL:
            if not definition:
                definition = definition_of(locked)
            _check(locked.project, definition, segment_id=locked.pk)
            locked.dimensions = definition.get("Dimensions")
            locked.segment_groups = definition.get("SegmentGroups")
        if name is not None:
            locked.name = name
        locked.version += 1
        locked.last_modified_date = timezone.now()
        locked.save()
        SegmentVersion.objects.create(
            segment=locked, version=locked.version, name=locked.name, definition=definition_of(locked)
        )
    return locked


def segment_delete(segment: Segment) -> None:
    """Delete a segment with its versions and static members."""
    with transaction.atomic():
        segment.delete()
