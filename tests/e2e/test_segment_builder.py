import json

import pytest
from playwright.sync_api import expect

from audience.models import Segment
from audience.services import endpoints_write
from audience.validation import parse_endpoint

pytestmark = pytest.mark.e2e


def test_building_a_segment_updates_the_estimate_and_saves_it(sign_in, user, project):
    endpoints_write(
        project,
        [
            parse_endpoint(endpoint_id, {"ChannelType": "EMAIL", "Address": f"{endpoint_id}@x.io", "Attributes": plan})
            for endpoint_id, plan in [
                ("ada", {"Plan": ["pro"]}),
                ("bob", {"Plan": ["pro", "team"]}),
                ("cy", {"Plan": ["free"]}),
            ]
        ],
    )
    page = sign_in(user)

    page.goto("/segments/new/")
    expect(page.locator("#estimate-total")).to_have_text("3")
    page.get_by_label("Name").fill("Pro plan")
    page.get_by_label("Add a criterion").select_option("attribute")
    page.get_by_role("button", name="Add criterion to group 1").click()
    page.get_by_label("Attribute name").press_sequentially("Plan")
    page.get_by_label("Values").press_sequentially("pro")
    expect(page.locator("#estimate-total")).to_have_text("2")
    expect(page.locator("#estimate-sample")).to_contain_text("bob")
    request = json.loads(page.locator("#definition-json").text_content())
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator(".message-success")).to_contain_text("saved as version 1")

    segment = Segment.objects.get(project=project)
    assert (segment.name, segment.version) == ("Pro plan", 1)
    assert request == {"Name": "Pro plan", "SegmentGroups": segment.segment_groups}
    assert segment.segment_groups["Groups"][0]["Dimensions"] == [
        {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    ]
