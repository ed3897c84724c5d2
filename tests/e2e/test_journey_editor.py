"""The journey editor in headless Chromium: build a journey by dragging from the palette and
connecting handles, configure it in the side panel, save, reload and compare the stored JSON,
publish; keyboard operation; errors shown on the activities."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from audience.models import Segment, SegmentType
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.templates import template_create
from journeys.engine import journeys_tick
from journeys.journeys import journey_create
from journeys.models import Journey, JourneyState
from projects.models import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def patient_expect():
    """Assertions wait up to 15 s for the page (5 s by default): the machine may be busy."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
def segment(project):
    return Segment.objects.create(project=project, name="Everyone", segment_type=SegmentType.DIMENSIONAL)


@pytest.fixture
def welcome():
    return template_create("EMAIL", "welcome", {"Subject": "Welcome aboard", "TextPart": "Hello there"})


def node(page, activity_id):
    return page.locator(f'.react-flow__node[data-id="{activity_id}"]')


def drop_from_palette(page, label, x, y):
    """Drag a palette item onto the canvas at (x, y) from the canvas's top-left corner."""
    page.get_by_role("button", name=label, exact=True).drag_to(
        page.locator(".je-canvas"), target_position={"x": x, "y": y}
    )


def connect(page, source, handle, target):
    """Draw an edge with the mouse, from a source handle to the target node's input handle."""
    start = node(page, source).locator(f'.react-flow__handle[data-handleid="{handle}"]').bounding_box()
    end = node(page, target).locator('.react-flow__handle[data-handleid="in"]').bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=15)
    page.mouse.up()
    expect(page.locator(f'.react-flow__edge[data-id="{source}:{handle}"]')).to_have_count(1)


def test_build_configure_save_reload_and_publish_a_journey(sign_in, user, project, segment, welcome):
    endpoints_write(
        project,
        [
            parse_endpoint("ada", {"ChannelType": "EMAIL", "Address": "ada@example.com"}),
            parse_endpoint("bob", {"ChannelType": "EMAIL", "Address": "bob@example.com"}),
        ],
    )
    page = sign_in(user)
    page.goto("/journeys/new/")

    page.get_by_label("Journey name").fill("Onboarding")
    node(page, "_entry").click()
    page.get_by_label("Entry segment").select_option(label="Everyone")
    drop_from_palette(page, "Email", 330, 80)
    expect(node(page, "email1")).to_be_visible()
    drop_from_palette(page, "Wait", 330, 330)
    expect(node(page, "wait1")).to_be_visible()
    connect(page, "_entry", "next", "email1")
    connect(page, "email1", "next", "wait1")

    node(page, "email1").click()
    page.get_by_label("Template", exact=True).select_option("welcome")
    expect(page.get_by_label("Template preview")).to_contain_text("Welcome aboard")
    node(page, "wait1").click()
    page.get_by_label("Duration").fill("3")
    expect(node(page, "wait1")).to_contain_text("For P3D")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("button", name="Publish")).to_be_visible()
    journey = Journey.objects.get(project=project)
    assert page.url.endswith(f"/journeys/{journey.pk}/")
    assert journey.definition["Name"] == "Onboarding"
    assert journey.definition["StartCondition"] == {"SegmentStartCondition": {"SegmentId": segment.pk}}
    assert journey.definition["StartActivity"] == "email1"
    assert journey.definition["Activities"] == {
        "email1": {"EMAIL": {"TemplateName": "welcome", "NextActivity": "wait1"}},
        "wait1": {"Wait": {"WaitTime": {"WaitFor": "P3D"}}},
    }
    assert set(journey.layout) == {"_entry", "email1", "wait1"}
    assert journey.layout["wait1"]["y"] > journey.layout["email1"]["y"]

    # The reloaded canvas shows the stored journey; saving it unchanged stores the same JSON.
    stored_definition, stored_layout = journey.definition, journey.layout
    page.reload()
    expect(node(page, "email1")).to_contain_text("Template: welcome")
    expect(page.locator('.react-flow__edge[data-id="email1:next"]')).to_have_count(1)
    expect(page.locator("#outline-email1")).to_contain_text("Then → wait1")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    journey.refresh_from_db()
    assert journey.definition == stored_definition
    assert journey.layout == stored_layout

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(node(page, "email1").get_by_label("Metrics")).to_contain_text("entered0")
    journey.refresh_from_db()
    assert journey.state == JourneyState.ACTIVE

    # Once the engine has moved the segment's endpoints along, the canvas shows them per activity.
    journeys_tick(now=journey.start_time + timedelta(minutes=1))
    page.reload()
    expect(node(page, "email1").get_by_label("Metrics")).to_contain_text("entered2")
    expect(node(page, "wait1").get_by_label("Metrics")).to_contain_text("waiting2")


def test_errors_are_shown_on_the_activities(sign_in, user, project, segment, welcome):
    journey = journey_create(
        project,
        {
            "Name": "Broken",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.pk}},
            "StartActivity": "hello",
            "Activities": {
                "hello": {"EMAIL": {"TemplateName": "welcome", "NextActivity": "hold"}},
                "hold": {"Holdout": {"Percentage": 10}},
            },
        },
        user=user,
    )
    page = sign_in(user)
    page.goto(f"/journeys/{journey.pk}/")

    node(page, "hold").click()
    page.get_by_label("Held out (%)").fill("150")
    page.get_by_role("button", name="Save").click()

    expect(node(page, "hold").locator(".je-node-error")).to_contain_text("Percentage")
    expect(node(page, "hello").locator(".je-node-error")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Not saved")
    journey.refresh_from_db()
    assert journey.definition["Activities"]["hold"] == {"Holdout": {"Percentage": 10}}


def test_keyboard_adds_moves_configures_and_deletes_activities(sign_in, user, project, segment, welcome):
    journey = journey_create(
        project,
        {
            "Name": "Keys",
            "StartActivity": "hello",
            "Activities": {"hello": {"EMAIL": {"NextActivity": "hold"}}, "hold": {"Holdout": {"Percentage": 10}}},
        },
        user=user,
    )
    page = sign_in(user)
    page.goto(f"/journeys/{journey.pk}/")
    # Created through the API without a layout: laid out by depth from the entry, left to right.
    entry_box, hello_box, hold_box = (node(page, a).bounding_box() for a in ("_entry", "hello", "hold"))
    assert entry_box["x"] < hello_box["x"] < hold_box["x"]

    page.get_by_role("button", name="SMS", exact=True).focus()
    page.keyboard.press("Enter")
    expect(node(page, "sms1")).to_be_visible()
    node(page, "hello").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Template", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(node(page, "hello")).to_be_focused()
    before = node(page, "hello").bounding_box()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(node(page, "hello")).not_to_have_attribute("style", f"{node(page, 'hello').get_attribute('style')}x")
    after = node(page, "hello").bounding_box()
    assert after["y"] > before["y"]
    node(page, "hold").focus()
    page.keyboard.press("Delete")
    expect(node(page, "hold")).to_have_count(0)
    node(page, "hello").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Then").select_option("sms1")
    expect(page.locator('.react-flow__edge[data-id="hello:next"]')).to_have_count(1)
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.locator("#outline-hello")).to_contain_text("Then → sms1")  # the outline follows the save
    expect(page.locator("#outline-hold")).to_have_count(0)
    journey.refresh_from_db()
    assert set(journey.definition["Activities"]) == {"hello", "sms1"}
    assert journey.definition["Activities"]["hello"]["EMAIL"]["NextActivity"] == "sms1"
    assert journey.layout["hello"]["y"] > 0


def test_a_yes_no_split_tests_an_earlier_emails_clicks_and_branches_by_handle(sign_in, user, project, segment, welcome):
    template_create("SMS", "nudge", {"Body": "Still there?"})
    page = sign_in(user)
    page.goto("/journeys/new/")
    page.get_by_label("Journey name").fill("Branches")
    drop_from_palette(page, "Email", 420, 60)
    drop_from_palette(page, "Yes/no split", 150, 260)
    drop_from_palette(page, "SMS", 420, 440)
    connect(page, "_entry", "next", "email1")
    connect(page, "email1", "next", "conditionalsplit1")
    connect(page, "conditionalsplit1", "true", "sms1")

    node(page, "conditionalsplit1").click()
    page.get_by_role("button", name="Add a condition").click()
    page.get_by_label("Condition", exact=True).select_option(label="Message event of an earlier activity")
    page.get_by_label("Activity", exact=True).select_option("email1")
    page.get_by_label("Event", exact=True).select_option(label="clicked")
    page.get_by_label("Evaluate").select_option(label="After a duration")
    page.get_by_label("Duration").fill("2")
    page.get_by_label("Unit").select_option(label="hours")
    expect(page.get_by_label("No →")).to_have_value("")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("button", name="Publish")).to_be_visible()
    journey = Journey.objects.get(project=project)
    assert journey.definition["Activities"]["conditionalsplit1"] == {
        "ConditionalSplit": {
            "Condition": {
                "Operator": "ALL",
                "Conditions": [
                    {
                        "EventCondition": {
                            "MessageActivity": "email1",
                            "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.click"]}},
                        }
                    }
                ],
            },
            "EvaluationWaitTime": {"WaitFor": "PT2H"},
            "TrueActivity": "sms1",
        }
    }
    expect(page.locator('.react-flow__edge[data-id="conditionalsplit1:true"]')).to_have_count(1)
    expect(page.locator("#outline-conditionalsplit1")).to_contain_text("Yes when _email.click of activity email1")


def test_a_journey_made_through_the_api_reads_back_unchanged_after_saving_in_the_editor(
    sign_in, user, project, segment, welcome
):
    request = {
        "Name": "Everything",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.pk}},
        "RefreshFrequency": "PT6H",
        "Limits": {"DailyCap": 3, "EndpointReentryCap": 2},
        "QuietTime": {"Start": "22:00", "End": "07:00"},
        "StartActivity": "hello",
        "Activities": {
            "hello": {"Description": "First", "EMAIL": {"TemplateName": "welcome", "NextActivity": "which"}},
            "which": {
                "MultiCondition": {
                    "Branches": [
                        {"Condition": {"SegmentCondition": {"SegmentId": segment.pk}}, "NextActivity": "text"},
                        {
                            "Condition": {
                                "segmentDimensions": {
                                    "Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}
                                }
                            },
                            "NextActivity": "split",
                        },
                    ],
                    "DefaultActivity": "later",
                    "EvaluationWaitTime": {"WaitFor": "P1D"},
                }
            },
            "text": {"SMS": {"TemplateName": "nudge", "TemplateVersion": "1"}},
            "split": {
                "RandomSplit": {
                    "Branches": [
                        {"Percentage": 20, "NextActivity": "push"},
                        {"Percentage": 30, "NextActivity": "hold"},
                        {"Percentage": 50},
                    ]
                }
            },
            "push": {"PUSH": {"TemplateName": "ping"}},
            "hold": {"Holdout": {"Percentage": 5}},
            "later": {"Wait": {"WaitTime": {"WaitUntil": "2031-01-01T09:00:00Z"}}},
        },
    }
    template_create("SMS", "nudge", {"Body": "Still there?"})
    template_create("PUSH", "ping", {"Default": {"Title": "Ping", "Body": "Hello"}})
    journey = journey_create(project, request, user=user)
    stored = journey.definition
    page = sign_in(user)

    page.goto(f"/journeys/{journey.pk}/")
    expect(node(page, "split")).to_contain_text("Path 3 · 50%")
    expect(page.locator('.react-flow__edge[data-id="which:default"]')).to_have_count(1)
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    journey.refresh_from_db()
    assert journey.definition == stored
    assert set(journey.layout) == {"_entry", *request["Activities"]}
    columns = {activity: journey.layout[activity]["x"] for activity in journey.layout}
    assert columns["_entry"] < columns["hello"] < columns["which"] < columns["text"] == columns["split"]
    assert columns["split"] < columns["push"] == columns["hold"]


def test_pause_resume_and_cancel_a_published_journey(sign_in, user, project, segment, welcome):
    journey = journey_create(
        project,
        {
            "Name": "Running",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.pk}},
            "RefreshFrequency": "PT1H",
            "StartActivity": "hello",
            "Activities": {"hello": {"EMAIL": {"TemplateName": "welcome"}}},
            "State": "ACTIVE",
        },
        user=user,
    )
    page = sign_in(user)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"/journeys/{journey.pk}/")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)  # an active journey's canvas is read-only
    expect(page.get_by_role("navigation", name="Activity types")).to_have_count(0)

    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    journey.refresh_from_db()
    assert journey.state == JourneyState.PAUSED
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    journey.refresh_from_db()
    assert journey.state == JourneyState.ACTIVE
    page.get_by_role("button", name="Cancel journey").click()

    expect(page.get_by_role("status")).to_contain_text("Journey cancelled.")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    journey.refresh_from_db()
    assert journey.state == JourneyState.CANCELLED


def test_a_viewer_sees_the_canvas_without_changing_it(sign_in, project, segment, welcome):
    viewer = MembershipFactory(project=project, role=Role.VIEWER).user
    journey = journey_create(
        project,
        {"Name": "Look", "StartActivity": "hello", "Activities": {"hello": {"EMAIL": {"TemplateName": "welcome"}}}},
    )
    page = sign_in(viewer)

    page.goto(f"/journeys/{journey.pk}/")
    node(page, "hello").click()

    expect(page.get_by_label("Template", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Activity types")).to_have_count(0)
    node(page, "hello").focus()
    page.keyboard.press("Delete")
    expect(node(page, "hello")).to_have_count(1)


def test_publishing_without_an_entry_shows_the_error_on_the_entry(sign_in, user, project, welcome):
    journey = journey_create(
        project,
        {"Name": "NoEntry", "StartActivity": "hello", "Activities": {"hello": {"EMAIL": {"TemplateName": "welcome"}}}},
    )
    page = sign_in(user)
    page.goto(f"/journeys/{journey.pk}/")

    page.get_by_role("button", name="Publish").click()

    expect(node(page, "_entry").locator(".je-node-error")).to_contain_text("StartCondition is required to publish")
    expect(page.get_by_role("status")).to_contain_text("Not published")
    journey.refresh_from_db()
    assert journey.state == JourneyState.DRAFT
