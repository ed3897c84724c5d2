"""Pinpoint's KPI operations: GetApplicationDateRangeKpi, GetCampaignDateRangeKpi and
GetJourneyDateRangeKpi. The catalog, the formulas and the range rules live in
audience.analytics.kpis; these views parse the query, check the campaign or journey belongs to the
project, and answer the bare *DateRangeKpiResponse (all rows in one page: Pinpoint's KPI resources
take no paging, so `page-size` and `next-token` are ignored).

The campaign and journey views are routed by their own apps, which name the model to look the
resource up in (audience may not import campaigns or journeys)."""

from datetime import UTC, datetime

from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audience.analytics.kpis import (
    APPLICATION,
    CAMPAIGN,
    JOURNEY,
    KpiRangeInvalid,
    KpiUnknown,
    kpi_range,
    kpi_rows,
)
from engage.api.errors import BadRequest, NotFound
from engage.api.formats import iso8601
from projects.api.mixins import ProjectScopedMixin


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = parse_datetime(raw)
        if value is None and (day := parse_date(raw)) is not None:
            value = datetime(day.year, day.month, day.day)
    except ValueError:
        value = None
    if value is None:
        raise BadRequest(f"{name} must be a date and time in ISO 8601 format, e.g. 2019-07-19T20:00:00Z.")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ApplicationKpiView(ProjectScopedMixin, APIView):
    """GetApplicationDateRangeKpi."""

    scope = APPLICATION

    def answer(self, request: Request, kpi_name: str, resource_id: str = "") -> Response:
        try:
            start, end = kpi_range(_time(request, "start-time"), _time(request, "end-time"), now=timezone.now())
            rows = kpi_rows(self.project.pk, self.scope, kpi_name, start, end, resource_id=resource_id)
        except (KpiUnknown, KpiRangeInvalid) as error:
            raise BadRequest(str(error)) from None
        body = {"ApplicationId": self.project.pk}
        if self.scope != APPLICATION:
            body[f"{self.scope.capitalize()}Id"] = resource_id
        body |= {
            "KpiName": kpi_name,
            "StartTime": iso8601(start),
            "EndTime": iso8601(end),
            "KpiResult": {"Rows": rows},
        }
        return Response(body)

    def get(self, request: Request, application_id: str, kpi_name: str) -> Response:
        return self.answer(request, kpi_name)


class ResourceKpiView(ApplicationKpiView):
    """GetCampaignDateRangeKpi / GetJourneyDateRangeKpi: `model` is given by the route."""

    model: type[Model] | None = None

    def get(self, request: Request, application_id: str, resource_id: str, kpi_name: str) -> Response:
        if not self.model._default_manager.filter(project=self.project, pk=resource_id).exists():
            raise NotFound(f"{self.scope.capitalize()} {resource_id[:64]} not found.")
        return self.answer(request, kpi_name, resource_id)


class CampaignKpiView(ResourceKpiView):
    """GetCampaignDateRangeKpi."""

    scope = CAMPAIGN


class JourneyKpiView(ResourceKpiView):
    """GetJourneyDateRangeKpi."""

    scope = JOURNEY
