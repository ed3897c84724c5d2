"""The campaign API's answers: CampaignResponse, ActivityResponse, the campaign's ARN, and the
treatments as the API and the pages describe them."""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone

from campaigns.models import Campaign, CampaignActivity, CampaignVersion
from campaigns.treatments import treatments_of as allocation_of
from engage.api.formats import iso8601


def campaign_arn(campaign: Campaign) -> str:
    return (
        f"arn:aws:mobiletargeting:{settings.ENGAGE_REGION}:{settings.ENGAGE_ACCOUNT_ID}:"
        f"apps/{campaign.project_id}/campaigns/{campaign.pk}"
    )


def campaign_response(campaign: Campaign, *, version: CampaignVersion | None = None) -> dict[str, Any]:
    """CampaignResponse of the campaign now, or of one of its stored versions (select_related
    "segment" when answering many)."""
    definition = version.definition if version is not None else campaign.definition
    state = {"CampaignStatus": campaign.state}
    segment_version = definition.get("SegmentVersion")
    if segment_version is None:
        segment_version = campaign.segment.version if campaign.segment_id else 1
    body: dict[str, Any] = {
        "ApplicationId": campaign.project_id,
        "Arn": campaign_arn(campaign),
        "CreationDate": iso8601(campaign.creation_date),
        "Id": campaign.pk,
        "LastModifiedDate": iso8601(version.creation_date if version is not None else campaign.last_modified_date),
        "HoldoutPercent": 0,
        "IsPaused": False,
        **{k: v for k, v in definition.items() if k != "AdditionalTreatments"},
        "SegmentId": definition.get("SegmentId") or campaign.segment_id or "",
        "SegmentVersion": segment_version,
        "State": state,
        "Version": version.version if version is not None else campaign.version,
        "tags": campaign.tags,
        "AdditionalTreatments": [{**t, "State": state} for t in definition.get("AdditionalTreatments") or []],
    }
    if body["AdditionalTreatments"]:
        body["DefaultState"] = state
    return body


def activity_response(activity: CampaignActivity) -> dict[str, Any]:
    """ActivityResponse of one treatment's share of a run (reads activity.campaign.project_id).
    TimezonesTotalCount: the distinct zones of the endpoints it decided for; TimezonesCompletedCount:
    those whose send instant has come once the run has written them all."""
    body: dict[str, Any] = {
        "ApplicationId": activity.campaign.project_id,
        "CampaignId": activity.campaign_id,
        "Id": activity.pk,
        "TreatmentId": activity.treatment_id,
        "State": activity.state,
        "ScheduledStart": iso8601(activity.scheduled_start),
        "SuccessfulEndpointCount": activity.successful_endpoint_count,
        "TotalEndpointCount": activity.total_endpoint_count,
        "TimezonesCompletedCount": activity.timezones_completed(timezone.now()),
        "TimezonesTotalCount": len(activity.timezones or {}),
        "ExecutionMetrics": {str(k): str(v) for k, v in (activity.execution_metrics or {}).items()},
    }
    if activity.result:
        body["Result"] = activity.result
    if activity.start is not None:
        body["Start"] = iso8601(activity.start)
    if activity.end is not None:
        body["End"] = iso8601(activity.end)
    return body


def treatments_of(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """campaigns.treatments.treatments_of (Id, SizePercent, Cohorts and the effective members), each
    treatment with its TreatmentName and TreatmentDescription when set (the campaign's for "0")."""
    own = {"0": definition, **{str(t.get("Id")): t for t in definition.get("AdditionalTreatments") or []}}
    names = ("TreatmentName", "TreatmentDescription")
    return [{**t, **{m: own[t["Id"]][m] for m in names if m in own[t["Id"]]}} for t in allocation_of(definition)]
