"""Pinpoint campaign operations: CreateCampaign, GetCampaigns, GetCampaign, UpdateCampaign,
DeleteCampaign, GetCampaignVersion(s), GetCampaignActivities. The rules live in campaigns.campaigns."""

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db.models import Q
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import campaigns as service
from campaigns.models import Campaign, CampaignActivity, CampaignVersion
from engage.api.errors import BadRequest, NotFound
from engage.api.paging import page, page_size_from, paginate
from projects.api.mixins import ProjectScopedMixin
from projects.models import Project


@contextmanager
def pinpoint_errors() -> Iterator[None]:
    try:
        yield
    except service.CampaignInvalid as error:
        raise BadRequest(str(error)) from None


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise BadRequest("The request body must be a WriteCampaignRequest object.")
    return request.data


def _campaign(project: Project, campaign_id: str) -> Campaign:
    campaign = Campaign.objects.filter(project=project, pk=campaign_id).select_related("segment").first()
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id[:64]} not found.")
    return campaign


class CampaignsView(ProjectScopedMixin, APIView):
    """GetCampaigns (oldest first, keyset pages), CreateCampaign."""

    def get(self, request: Request, application_id: str) -> Response:
        items, token = paginate(
            Campaign.objects.filter(project=self.project).select_related("segment"),
            page_size=request.query_params.get("page-size"),
            token=request.query_params.get("token"),
            order=("creation_date", "id"),
        )
        return Response(page([service.campaign_response(c) for c in items], token))

    def post(self, request: Request, application_id: str) -> Response:
        with pinpoint_errors():
            campaign = service.campaign_create(self.project, _body(request), user=request.user)
        return Response(service.campaign_response(campaign), status=status.HTTP_201_CREATED)


class CampaignView(ProjectScopedMixin, APIView):
    """GetCampaign, UpdateCampaign (a new Version), DeleteCampaign (answers the campaign as it was)."""

    def get(self, request: Request, application_id: str, campaign_id: str) -> Response:
        return Response(service.campaign_response(_campaign(self.project, campaign_id)))

    def put(self, request: Request, application_id: str, campaign_id: str) -> Response:
        campaign = _campaign(self.project, campaign_id)
        with pinpoint_errors():
            campaign = service.campaign_update(campaign, _body(request), user=request.user)
        return Response(service.campaign_response(campaign))

    def delete(self, request: Request, application_id: str, campaign_id: str) -> Response:
        return Response(service.campaign_delete(_campaign(self.project, campaign_id)))


class CampaignVersionsView(ProjectScopedMixin, APIView):
    """GetCampaignVersions: every version, oldest first."""

    def get(self, request: Request, application_id: str, campaign_id: str) -> Response:
        campaign = _campaign(self.project, campaign_id)
        items, token = paginate(
            CampaignVersion.objects.filter(campaign=campaign),
            page_size=request.query_params.get("page-size"),
            token=request.query_params.get("token"),
            order=("version",),
        )
        return Response(page([service.campaign_response(campaign, version=v) for v in items], token))


class CampaignVersionView(ProjectScopedMixin, APIView):
    """GetCampaignVersion."""

    def get(self, request: Request, application_id: str, campaign_id: str, version: str) -> Response:
        campaign = _campaign(self.project, campaign_id)
        if not version.isascii() or not version.isdigit():
            raise BadRequest("version must be a whole number.")
        stored = CampaignVersion.objects.filter(campaign=campaign, version=int(version)).first()
        if stored is None:
            raise NotFound(f"Campaign {campaign.pk} has no version {version}.")
        return Response(service.campaign_response(campaign, version=stored))


def _activity_token(activity: CampaignActivity) -> str:
    raw = json.dumps([activity.scheduled_start.isoformat(), activity.treatment_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after_activity(token: str) -> Q:
    try:
        start, treatment = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        moment = datetime.fromisoformat(start)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadRequest("The token is not valid. Use the NextToken of a previous response.") from None
    # Newest run first, its treatments in Id order: (start, treatment) is unique per campaign.
    return Q(scheduled_start__lt=moment) | Q(scheduled_start=moment, treatment_id__gt=str(treatment))


class CampaignActivitiesView(ProjectScopedMixin, APIView):
    """GetCampaignActivities: one ActivityResponse per run and treatment, newest run first."""

    def get(self, request: Request, application_id: str, campaign_id: str) -> Response:
        campaign = _campaign(self.project, campaign_id)
        size = page_size_from(request.query_params.get("page-size"))
        activities = CampaignActivity.objects.filter(campaign=campaign).order_by("-scheduled_start", "treatment_id")
        token = request.query_params.get("token")
        if token:
            activities = activities.filter(_after_activity(token))
        rows = list(activities[: size + 1])
        for row in rows:
            row.campaign = campaign
        next_token = _activity_token(rows[size - 1]) if len(rows) > size else None
        return Response(page([service.activity_response(a) for a in rows[:size]], next_token))
