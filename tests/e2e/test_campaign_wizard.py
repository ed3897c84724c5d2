import json

import pytest
from playwright.sync_api import expect

from audience.models import Segment, SegmentType
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.models import Campaign
from campaigns.templates import template_create

pytestmark = pytest.mark.e2e


def test_walking_the_wizard_launches_an_ab_campaign(sign_in, user, project):
    endpoints_write(
        project,
        [
            parse_endpoint("ada", {"ChannelType": "EMAIL", "Address": "ada@x.io", "Attributes": {"Name": ["Ada"]}}),
            parse_endpoint("bob", {"ChannelType": "EMAIL", "Address": "bob@x.io", "Attributes": {"Name": ["Bob"]}}),
        ],
    )
    segment = Segment.objects.create(project=project, name="Everyone", segment_type=SegmentType.DIMENSIONAL)
    template_create("EMAIL", "welcome", {"Subject": "Welcome aboard", "HtmlPart": "<p>Hello</p>"})
    page = sign_in(user)

    page.goto("/campaigns/")
    page.get_by_role("link", name="Create a campaign").click()
    page.get_by_label("Name").fill("Spring test")
    expect(page.get_by_label("Number of treatments")).to_be_hidden()
    page.get_by_label("A/B test campaign").check()
    page.get_by_label("Number of treatments").fill("2")
    page.get_by_role("button", name="Next: Segment").click()

    page.get_by_label("Segment").select_option(label="Everyone")
    expect(page.locator("#segment-size .segment-size")).to_have_text("2")
    page.get_by_label("Holdout").fill("10")
    page.get_by_label("Treatment B").fill("30")
    page.get_by_role("button", name="Next: Message").click()

    first, second = page.locator("#treatment-0"), page.locator("#treatment-1")
    first.get_by_label("Template:", exact=True).select_option("welcome")
    expect(page.locator("#preview-0")).to_contain_text("Welcome aboard")
    second.get_by_label("Write the message here").check()
    expect(second.get_by_label("Template version")).to_be_hidden()
    second.get_by_label("Subject").fill("Hi {{Attributes.Name}}")
    second.get_by_label("Text body").fill("Spring is here")
    second.get_by_label("Endpoint").fill("bob")
    expect(page.locator("#preview-1")).to_contain_text("Hi Bob")
    page.get_by_role("button", name="Next: Schedule").click()

    page.get_by_label("Once, at a date and time").check()
    page.get_by_label("Start").fill("2030-03-10T09:00")
    expect(page.get_by_label("Event type")).to_be_hidden()
    page.get_by_role("button", name="Next: Review and launch").click()

    request = json.loads(page.locator("#request-json").text_content())
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.locator(".message-success")).to_contain_text("Spring test")

    campaign = Campaign.objects.get(project=project)
    assert page.url.endswith(f"/campaigns/{campaign.pk}/")
    assert campaign.definition["SegmentId"] == segment.pk == request["SegmentId"]
    assert campaign.definition["Schedule"]["StartTime"] == "2030-03-10T09:00:00+00:00"
    assert campaign.definition["TemplateConfiguration"] == {"EmailTemplate": {"Name": "welcome"}}
    assert campaign.definition["AdditionalTreatments"][0]["SizePercent"] == 30
    assert campaign.definition["AdditionalTreatments"][0]["MessageConfiguration"]["EmailMessage"]["Title"] == (
        "Hi {{Attributes.Name}}"
    )
