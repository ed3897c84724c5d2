"""Campaigns and journeys in the admin: listed and shown read-only (they change through their services)."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignActivity, CampaignRun
from journeys.models import Journey
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_the_admin_lists_and_shows_campaigns_with_their_activities_read_only(admin_client):
    campaign = Campaign.objects.create(project=ProjectFactory(), name="Spring-sale", definition={"Name": "Spring-sale"})
    run = CampaignRun.objects.create(campaign=campaign, campaign_version=1, scheduled_start=campaign.creation_date)
    CampaignActivity.objects.create(
        run=run, campaign=campaign, treatment_id="1", scheduled_start=run.scheduled_start, total_endpoint_count=42
    )

    listed = admin_client.get(reverse("admin:campaigns_campaign_changelist"))
    shown = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    deleting = admin_client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})

    assert listed.status_code == 200 and b"Spring-sale" in listed.content
    assert shown.status_code == 200 and b"42" in shown.content
    assert deleting.status_code == 403
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_the_admin_lists_and_shows_journeys_read_only(admin_client):
    journey = Journey.objects.create(project=ProjectFactory(), name="Onboarding", definition={"Name": "Onboarding"})

    listed = admin_client.get(reverse("admin:journeys_journey_changelist"))
    shown = admin_client.get(reverse("admin:journeys_journey_change", args=[journey.pk]))
    deleting = admin_client.post(reverse("admin:journeys_journey_delete", args=[journey.pk]), {"post": "yes"})

    assert listed.status_code == 200 and b"Onboarding" in listed.content
    assert shown.status_code == 200
    assert deleting.status_code == 403
    assert Journey.objects.filter(pk=journey.pk).exists()
