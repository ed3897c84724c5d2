"""Pinpoint journey operations: CreateJourney, ListJourneys, GetJourney, UpdateJourney,
DeleteJourney, UpdateJourneyState, GetJourneyRuns and the execution metrics (the journey's and an
activity's, overall or of one run). The rules live in journeys.journeys; the metrics are the
engine's (journeys.engine), derived from its rows. Metrics answer in one page, as Pinpoint's do."""

from collections.abc import Iterator
from contextlib import contextmanager

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from engage.api.errors import BadRequest, Conflict, NotFound
from engage.api.formats import iso8601
from engage.api.paging import page, paginate
from journeys import journeys as service
from journeys.definition import describe
from journeys.engine import journey_activity_metrics, journey_execution_metrics
from journeys.models import Journey, JourneyRun
from projects.api.mixins import ProjectScopedMixin
from projects.models import Project


@contextmanager
def pinpoint_errors() -> Iterator[None]:
    try:
        yield
    except service.JourneyInvalid as error:
        raise BadRequest(describe(error.errors)) from None
    except service.JourneyConflict as error:
        raise Conflict(str(error)) from None


def _body(request: Request, shape: str = "WriteJourneyRequest") -> dict:
    if not isinstance(request.data, dict):
        raise BadRequest(f"The request body must be a {shape} object.")
    return request.data


def journey_of(project: Project, journey_id: str) -> Journey:
    journey = Journey.objects.filter(project=project, pk=journey_id).first()
    if journey is None:
        raise NotFound(f"Journey {journey_id[:64]} not found.")
    return journey


class JourneysView(ProjectScopedMixin, APIView):
    """ListJourneys (oldest first, keyset pages), CreateJourney."""

    def get(self, request: Request, application_id: str) -> Response:
        items, token = paginate(
            Journey.objects.filter(project=self.project),
            page_size=request.query_params.get("page-size"),
            token=request.query_params.get("token"),
            order=("creation_date", "id"),
        )
        return Response(page([service.journey_response(j) for j in items], token))

    def post(self, request: Request, application_id: str) -> Response:
        with pinpoint_errors():
            journey = service.journey_create(self.project, _body(request), user=request.user)
        return Response(service.journey_response(journey), status=status.HTTP_201_CREATED)


class JourneyView(ProjectScopedMixin, APIView):
    """GetJourney, UpdateJourney (409 when the state forbids the change), DeleteJourney."""

    def get(self, request: Request, application_id: str, journey_id: str) -> Response:
        return Response(service.journey_response(journey_of(self.project, journey_id)))

    def put(self, request: Request, application_id: str, journey_id: str) -> Response:
        journey = journey_of(self.project, journey_id)
        with pinpoint_errors():
            journey = service.journey_update(journey, _body(request), user=request.user)
        return Response(service.journey_response(journey))

    def delete(self, request: Request, application_id: str, journey_id: str) -> Response:
        return Response(service.journey_delete(journey_of(self.project, journey_id)))


class JourneyStateView(ProjectScopedMixin, APIView):
    """UpdateJourneyState: ACTIVE (publish or resume), PAUSED, CANCELLED."""

    def put(self, request: Request, application_id: str, journey_id: str) -> Response:
        journey = journey_of(self.project, journey_id)
        with pinpoint_errors():
            journey = service.journey_set_state(
                journey, _body(request, "JourneyStateRequest").get("State"), user=request.user
            )
        return Response(service.journey_response(journey))


class JourneyRunsView(ProjectScopedMixin, APIView):
    """GetJourneyRuns: one JourneyRunResponse per admission (segment read or the event run), oldest first."""

    def get(self, request: Request, application_id: str, journey_id: str) -> Response:
        journey = journey_of(self.project, journey_id)
        items, token = paginate(
            JourneyRun.objects.filter(journey=journey),
            page_size=request.query_params.get("page-size"),
            token=request.query_params.get("token"),
            order=("creation_time", "id"),
        )
        runs = [
            {
                "CreationTime": iso8601(run.creation_time),
                "LastUpdateTime": iso8601(run.last_update_time),
                "RunId": run.pk,
                "Status": run.status,
            }
            for run in items
        ]
        return Response(page(runs, token))


def _run_of(journey: Journey, run_id: str) -> JourneyRun:
    run = JourneyRun.objects.filter(journey=journey, pk=run_id).first()
    if run is None:
        raise NotFound(f"Journey {journey.pk} has no run {run_id[:64]}.")
    return run


def _activity_of(journey: Journey, activity_id: str) -> str:
    if activity_id not in (journey.definition.get("Activities") or {}):
        raise NotFound(f"Journey {journey.pk} has no activity {activity_id[:128]}.")
    return activity_id


class JourneyExecutionMetricsView(ProjectScopedMixin, APIView):
    """GetJourneyExecutionMetrics."""

    def get(self, request: Request, application_id: str, journey_id: str) -> Response:
        return Response(journey_execution_metrics(journey_of(self.project, journey_id)))


class JourneyActivityMetricsView(ProjectScopedMixin, APIView):
    """GetJourneyExecutionActivityMetrics."""

    def get(self, request: Request, application_id: str, journey_id: str, activity_id: str) -> Response:
        journey = journey_of(self.project, journey_id)
        return Response(journey_activity_metrics(journey, _activity_of(journey, activity_id)))


class JourneyRunMetricsView(ProjectScopedMixin, APIView):
    """GetJourneyRunExecutionMetrics."""

    def get(self, request: Request, application_id: str, journey_id: str, run_id: str) -> Response:
        journey = journey_of(self.project, journey_id)
        return Response(journey_execution_metrics(journey, run=_run_of(journey, run_id)))


class JourneyRunActivityMetricsView(ProjectScopedMixin, APIView):
    """GetJourneyRunExecutionActivityMetrics."""

    def get(self, request: Request, application_id: str, journey_id: str, run_id: str, activity_id: str) -> Response:
        journey = journey_of(self.project, journey_id)
        run = _run_of(journey, run_id)
        return Response(journey_activity_metrics(journey, _activity_of(journey, activity_id), run=run))
