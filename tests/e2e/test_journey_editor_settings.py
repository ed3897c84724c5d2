"""The journey editor's Journey settings panel in headless Chromium: the journey-wide members
(Schedule, QuietTime, Limits, SendingSchedule + OpenHours) saved as Pinpoint's members, shown again
after a reload, and the definition service's errors shown next to their field."""

import pytest
from playwright.sync_api import expect

from audience.models import Segment, SegmentType
from journeys.journeys import journey_create

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def patient_expect():
    """Assertions wait up to 15 s for the page (5 s by default): the machine may be busy."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
def journey(project, user):
    segment = Segment.objects.create(project=project, name="Everyone", segment_type=SegmentType.DIMENSIONAL)
    return journey_create(
        project,
        {
            "Name": "Weekly",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.pk}},
            "StartActivity": "hold",
            "Activities": {"hold": {"Holdout": {"Percentage": 10}}},
        },
        user=user,
    )


def open_settings(page):
    page.locator(".je-toolbar").get_by_role("button", name="Journey settings").click()
    panel = page.get_by_role("complementary", name="Journey settings")
    expect(panel).to_be_visible()
    return panel


def test_schedule_quiet_time_limit_and_open_hours_are_saved_as_pinpoint_members(sign_in, user, journey):
    page = sign_in(user)
    page.goto(f"/journeys/{journey.pk}/")
    panel = open_settings(page)
    panel.get_by_label("Time zone").select_option("UTC+02")
    panel.locator("#je-set-StartTime").fill("2026-12-01T09:00")
    panel.locator("#je-set-EndTime").fill("2026-12-31T18:30")
    panel.get_by_label("Quiet time starts", exact=True).fill("22:00")
    panel.get_by_label("Quiet time ends", exact=True).fill("07:00")
    panel.get_by_label("Messages per endpoint a day").fill("3")
    panel.get_by_label("Send only in open hours", exact=False).check()
    panel.get_by_role("button", name="Add open hours").click()
    hours = panel.get_by_role("group", name="Open hours 1")
    hours.get_by_label("Day").select_option("TUESDAY")
    hours.get_by_label("From").fill("08:00")
    hours.get_by_label("To").fill("12:15")
    panel.get_by_role("button", name="Add closed days").click()
    closed = panel.get_by_role("group", name="Closed days 1")
    closed.get_by_label("Channel").select_option("SMS")
    closed.get_by_label("Name").fill("Holidays")
    closed.get_by_label("From").fill("2026-12-24T00:00")
    closed.get_by_label("To").fill("2026-12-27T06:00")
    panel.get_by_label("Use each endpoint's local time", exact=False).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()

    journey.refresh_from_db()
    definition = journey.definition
    # The start and end were given in UTC+02; the service stores them as Pinpoint answers (UTC).
    assert definition["Schedule"] == {
        "Timezone": "UTC+02",
        "StartTime": "2026-12-01T07:00:00.000Z",
        "EndTime": "2026-12-31T16:30:00.000Z",
    }
    assert definition["QuietTime"] == {"Start": "22:00", "End": "07:00"}
    assert definition["Limits"] == {"DailyCap": 3}
    assert definition["SendingSchedule"] is True
    assert definition["OpenHours"] == {"EMAIL": {"TUESDAY": [{"StartTime": "08:00", "EndTime": "12:15"}]}}
    assert definition["ClosedDays"] == {
        "SMS": [{"Name": "Holidays", "StartDateTime": "2026-12-24T00:00:00", "EndDateTime": "2026-12-27T06:00:00"}]
    }
    assert definition["LocalTime"] is True
    for member in ("WaitForQuietTime", "RefreshFrequency", "RefreshOnSegmentUpdate"):
        assert member not in definition
    assert definition["Activities"] == {"hold": {"Holdout": {"Percentage": 10}}}

    # After a reload the panel (opened this time from the entry's settings) shows the stored
    # values, the schedule in the journey's zone; saving again unchanged stores the same JSON.
    page.reload()
    page.locator('.react-flow__node[data-id="_entry"]').click()
    page.get_by_role("complementary", name="Journey entry").get_by_role("button", name="Journey settings").click()
    panel = page.get_by_role("complementary", name="Journey settings")
    expect(panel.locator("#je-set-StartTime")).to_have_value("2026-12-01T09:00")
    expect(panel.locator("#je-set-EndTime")).to_have_value("2026-12-31T18:30")
    expect(panel.get_by_label("Quiet time starts", exact=True)).to_have_value("22:00")
    expect(panel.get_by_label("Messages per endpoint a day")).to_have_value("3")
    expect(panel.get_by_role("group", name="Open hours 1").get_by_label("To")).to_have_value("12:15")
    expect(panel.get_by_role("group", name="Closed days 1").get_by_label("Name")).to_have_value("Holidays")
    expect(panel.get_by_label("Use each endpoint's local time", exact=False)).to_be_checked()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    journey.refresh_from_db()
    assert journey.definition == definition


def test_invalid_settings_show_the_services_error_next_to_the_field(sign_in, user, journey):
    page = sign_in(user)
    page.goto(f"/journeys/{journey.pk}/")
    panel = open_settings(page)
    panel.get_by_label("Messages per endpoint a day").fill("500")
    panel.get_by_label("Re-read the segment every").fill("PT10M")
    panel.get_by_label("Send only in open hours", exact=False).check()  # without quiet time
    page.get_by_role("button", name="Close", exact=True).click()  # closed: the errors reopen it
    expect(page.get_by_role("complementary", name="Journey settings")).to_have_count(0)
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_contain_text("Not saved: 3 problem(s)")
    panel = page.get_by_role("complementary", name="Journey settings")
    expect(panel.locator("#je-set-DailyCap-error")).to_contain_text("Limits.DailyCap must be between 0 and 100")
    expect(panel.locator("#je-set-refresh-error")).to_contain_text("RefreshFrequency must be at least 1 hour")
    expect(panel.get_by_role("group", name="Sending schedule")).to_contain_text(
        "SendingSchedule needs QuietTime to be set first."
    )
    toolbar_button = page.locator(".je-toolbar").get_by_role("button", name="Journey settings")
    expect(toolbar_button).to_contain_text("3 problems")
    journey.refresh_from_db()
    assert "Limits" not in journey.definition and "RefreshFrequency" not in journey.definition

    # Corrected and saved: the errors go; Escape leaves the panel for its toolbar button.
    panel.get_by_label("Messages per endpoint a day").fill("5")
    panel.get_by_label("Re-read the segment every").fill("PT2H")
    panel.get_by_label("Quiet time starts", exact=True).fill("21:00")
    panel.get_by_label("Quiet time ends", exact=True).fill("08:00")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(panel.locator(".je-error")).to_have_count(0)
    expect(toolbar_button).not_to_contain_text("problem")
    journey.refresh_from_db()
    assert journey.definition["Limits"] == {"DailyCap": 5}
    assert journey.definition["RefreshFrequency"] == "PT2H"
    assert journey.definition["SendingSchedule"] is True
    panel.get_by_label("Messages per endpoint a day").focus()
    page.keyboard.press("Escape")
    expect(toolbar_button).to_be_focused()
