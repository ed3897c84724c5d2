"""Audience pages: the endpoint list (search, filters, counts, keyset pages) and an endpoint's profile.

Every query starts from `request.project` (projects.middleware); another project's endpoint is a 404.
The segment pages are in audience.segment_pages.
"""

import json
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from audience.api.serializers import endpoint_response
from audience.filtersets import EndpointFilterSet
from audience.models import ChannelType, Endpoint, EndpointStatus, OptOut, endpoint_key
from audience.validation import DEMOGRAPHIC_COLUMNS, LOCATION_NUMBER_COLUMNS, LOCATION_TEXT_COLUMNS
from projects.middleware import project_required
from projects.models import Project

PAGE_SIZE = 50
RECENT_EVENTS = 50
LIST_COLUMNS = (
    "key",
    "endpoint_id",
    "channel_type",
    "address",
    "user_id",
    "status",
    "opt_out",
    "last_active_at",
    "effective_date",
)


@dataclass
class ChannelCount:
    channel: str
    total: int
    reachable: int


@dataclass
class AudienceCounts:
    total: int
    active: int
    opted_out: int
    channels: list[ChannelCount]


def audience_counts(project: Project) -> AudienceCounts:
    """Totals of the project's endpoints, per channel too, in one aggregate query."""
    rows = list(
        Endpoint.objects.for_project(project)
        .order_by()
        .values("channel_type")
        .annotate(
            # Counting a non-null column of (project, channel, status, opt-out) rather than the id:
            # with an index on those, PostgreSQL can count from the index alone.
            total=Count("status"),
            active=Count("status", filter=Q(status=EndpointStatus.ACTIVE)),
            opted_out=Count("status", filter=Q(opt_out=OptOut.ALL)),
            reachable=Count("status", filter=Q(status=EndpointStatus.ACTIVE, opt_out=OptOut.NONE)),
        )
    )
    order = {channel: i for i, channel in enumerate(ChannelType.values)}
    rows.sort(key=lambda row: order.get(row["channel_type"], len(order)))
    return AudienceCounts(
        total=sum(row["total"] for row in rows),
        active=sum(row["active"] for row in rows),
        opted_out=sum(row["opted_out"] for row in rows),
        channels=[ChannelCount(row["channel_type"], row["total"], row["reachable"]) for row in rows],
    )


@dataclass
class KeysetPage:
    rows: list[Endpoint]
    next_after: str | None
    previous_before: str | None


def keyset_page(scoped: QuerySet, branches: list[QuerySet], *, after: str, before: str, size: int) -> KeysetPage:
    """One page of the union of `branches` (querysets of `scoped`) in `key` order, after or before
    a key: indexed ranges, never OFFSET.

    Several branches are read key-first: the page's rows are among the first size+1 keys of each
    branch, so one more query by those keys orders them — in the database's collation, whatever it is.
    """
    backwards = bool(before) and not after
    order = "-key" if backwards else "key"
    if backwards:
        branches = [branch.filter(key__lt=before) for branch in branches]
    elif after:
        branches = [branch.filter(key__gt=after) for branch in branches]
    if len(branches) == 1:
        found = branches[0]
    else:
        keys = {key for branch in branches for key in branch.order_by(order).values_list("key", flat=True)[: size + 1]}
        found = scoped.filter(key__in=keys)
    rows = list(found.only(*LIST_COLUMNS).order_by(order)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
        # Going back from `before`, that row (or a later one) is still ahead: there is a next page.
        return KeysetPage(rows, rows[-1].key if rows else None, rows[0].key if rows and more else None)
    return KeysetPage(rows, rows[-1].key if more else None, rows[0].key if rows and after else None)


def _cursor(request: HttpRequest, name: str) -> str:
    value = request.GET.get(name, "")
    return "" if "\x00" in value else value  # no key holds NUL, and PostgreSQL refuses it in a query


def _page_link(query: QueryDict, **cursor: str) -> str:
    params = query.copy()
    for name in ("after", "before"):
        params.pop(name, None)
    params.update(cursor)
    return "?" + params.urlencode()


@login_required
@require_GET
@project_required
def endpoints(request: HttpRequest) -> HttpResponse:
    project = request.project
    scoped = Endpoint.objects.for_project(project)
    filterset = EndpointFilterSet(request.GET, queryset=scoped)
    page = None
    if filterset.is_valid():
        page = keyset_page(
            scoped,
            filterset.branches(),
            after=_cursor(request, "after"),
            before=_cursor(request, "before"),
            size=PAGE_SIZE,
        )
    filtered = any(request.GET.get(name) for name in filterset.filters)
    return render(
        request,
        "audience/endpoints.html",
        {
            "project": project,
            "counts": audience_counts(project),
            "filterset": filterset,
            "filtered": filtered,
            "page": page,
            "next_link": _page_link(request.GET, after=page.next_after) if page and page.next_after else None,
            "previous_link": (
                _page_link(request.GET, before=page.previous_before) if page and page.previous_before else None
            ),
            "first_link": _page_link(request.GET) if request.GET.get("after") or request.GET.get("before") else None,
        },
    )


def _members(endpoint: Endpoint, prefix: str, columns: dict) -> list[tuple[str, object]]:
    rows = []
    for member, column in columns.items():
        name = column[0] if isinstance(column, tuple) else column
        rows.append((f"{prefix}.{member}", getattr(endpoint, name)))
    return rows


@login_required
@require_GET
@project_required
def endpoint_detail(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    project = request.project
    if "\x00" in endpoint_id:
        raise Http404("No endpoint id holds NUL.")
    endpoint = get_object_or_404(Endpoint.objects.for_project(project), key=endpoint_key(endpoint_id))
    user = None
    other_endpoints: list[Endpoint] = []
    if endpoint.user_id:
        user = project.audience_users.filter(user_id=endpoint.user_id).first()
        other_endpoints = list(
            Endpoint.objects.for_project(project)
            .filter(user_id=endpoint.user_id)
            .exclude(pk=endpoint.pk)
            .order_by("key")
            .only(*LIST_COLUMNS)
        )
    events = list(project.events.filter(endpoint_key=endpoint.key).order_by("-timestamp", "-pk")[:RECENT_EVENTS])
    user_attributes = user.attributes if user else {}
    return render(
        request,
        "audience/endpoint_detail.html",
        {
            "project": project,
            "endpoint": endpoint,
            "demographic": _members(endpoint, "Demographic", DEMOGRAPHIC_COLUMNS),
            "location": _members(endpoint, "Location", {**LOCATION_TEXT_COLUMNS, **LOCATION_NUMBER_COLUMNS}),
            "attributes": sorted(endpoint.attributes.items()),
            "metrics": sorted(endpoint.metrics.items()),
            "user_attributes": sorted(user_attributes.items()),
            "other_endpoints": other_endpoints,
            "events": events,
            "recent_events": RECENT_EVENTS,
            "endpoint_json": json.dumps(
                endpoint_response(endpoint, user_attributes if endpoint.user_id else None), indent=2
            ),
        },
    )
