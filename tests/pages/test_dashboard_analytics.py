"""The project dashboard's analytics: events stored through PutEvents (boto3 and the service) and by
Engage itself (events_record) are shown per day, channel and source, in tables and CSV downloads,
for a date range chosen with a form — and never another project's."""

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.urls import reverse

from audience.services import SystemEvent, events_put, events_record
from audience.validation import parse_endpoint, parse_event
from projects.models import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
RANGE = {"start": "2026-11-01", "end": "2026-11-03"}
CAMPAIGN = {"campaign_id": "c1", "campaign_activity_id": "a1", "treatment_id": "0"}


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def put(pinpoint, project, endpoint_id: str, events: dict[str, tuple]) -> None:
    """PutEvents through boto3; each event is (type, timestamp[, attributes])."""
    batch = {
        event_id: {"EventType": e[0], "Timestamp": e[1].isoformat(), **({"Attributes": e[2]} if len(e) > 2 else {})}
        for event_id, e in events.items()
    }
    request = {"BatchItem": {endpoint_id: {"Endpoint": {}, "Events": batch}}}
    answer = pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)
    statuses = answer["EventsResponse"]["Results"][endpoint_id]["EventsItemResponse"]
    assert {s["StatusCode"] for s in statuses.values()} == {202}


def email(project, key: str, event_id: str, kind: str, when: datetime, **extra) -> SystemEvent:
    return SystemEvent(project.id, key, event_id, kind, when, {**CAMPAIGN, "message_id": f"m-{key}", **extra})


def record_messages(project) -> None:
    """A campaign's emails and a push message, and a transactional SMS (see the expected tables)."""
    events_record(
        [
            *[email(project, k, f"send-{k}", "_email.send", at(D1, 9)) for k in ("ann", "bob", "cy", "eve")],
            email(project, "dan", "fail-dan", "_email.hardbounce", at(D1, 9), error="550 no such user"),
            email(project, "cy", "bounce-cy", "_email.hardbounce", at(D2, 1)),
            email(project, "ann", "open-1", "_email.open", at(D1, 10)),
            email(project, "ann", "open-2", "_email.open", at(D2, 10)),  # the same message again
            email(project, "bob", "open-3", "_email.open", at(D2, 11)),
            email(project, "ann", "click-1", "_email.click", at(D1, 10)),
            email(project, "bob", "unsub-1", "_email.unsubscribe", at(D2, 12)),
            SystemEvent(
                project.id,
                "ann",
                "push-ann",
                "_campaign.send",
                at(D1, 9),
                {**CAMPAIGN, "delivery_type": "GCM", "campaign_send_status": "SUCCESS"},
            ),
            SystemEvent(project.id, "phone", "sms-1", "_SMS.BUFFERED", at(D1, 9), {"message_id": "sms-1"}),
            SystemEvent(project.id, "phone", "stop-1", "_SMS.OPTOUT", at(D2, 9), {}),
        ]
    )


def put_app_events(pinpoint, project) -> None:
    put(
        pinpoint,
        project,
        "ann",
        {
            "a1": ("_session.start", at(D1, 10)),
            "a2": ("pageView", at(D1, 11)),
            "a3": ("_session.start", at(D2, 9)),
            "a4": ("_campaign.opened_notification", at(D1, 12), CAMPAIGN),
        },
    )
    put(pinpoint, project, "bob", {"b1": ("_session.start", at(D1, 12))})
    put(pinpoint, project, "cy", {"c1": ("pageView", at(D2, 8))})


def text(cell: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()


def table_rows(html: str, name: str) -> list[list[str]]:
    """The body rows of the dashboard table `name`, as the text of their cells."""
    table = re.search(rf'<table [^>]*id="table-{name}".*?</table>', html, re.S)
    assert table, f"no table {name}"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(0), re.S).group(1)
    return [
        [text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def summary(html: str) -> dict[str, str]:
    return {row[0]: row[1] for row in table_rows(html, "summary")}


@pytest.fixture
def page(client, user, project):
    client.force_login(user)

    def get(**params) -> str:
        response = client.get(reverse("dashboard"), params)
        assert response.status_code == 200
        return response.content.decode()

    return get


def test_totals_count_app_activity_and_messages_of_the_range(pinpoint, project, page):
    put_app_events(pinpoint, project)
    record_messages(project)

    numbers = summary(page(**RANGE))

    assert numbers == {
        "Active endpoints": "3",
        "Average daily active endpoints": "1.3",  # 2 + 2 + 0 over 3 days
        "New endpoints": "0",  # PutEvents made them today, after the range
        "Sessions": "3",
        "Messages attempted": "7",
        "Messages sent": "6",
        "Messages delivered": "5",
        "Delivery rate (%)": "71.4",
        "Email open rate (%)": "66.7",
        "Email click rate (%)": "33.3",
        "Push open rate (%)": "100.0",
        "Opt-outs": "2",
    }


def test_daily_table_counts_each_day_on_its_own(pinpoint, project, page):
    put_app_events(pinpoint, project)
    record_messages(project)

    rows = table_rows(page(**RANGE), "daily")

    # Day, active, new, sessions, sent, delivered, failed, email opens, clicks, push opens, opt-outs.
    assert rows == [
        ["Sun 1 Nov", "2", "0", "2", "6", "6", "1", "1", "1", "1", "0"],
        ["Mon 2 Nov", "2", "0", "1", "0", "0", "0", "1", "0", "0", "2"],
        ["Tue 3 Nov", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"],
    ]


def test_channel_and_source_tables_split_the_messages(pinpoint, project, page):
    put_app_events(pinpoint, project)
    record_messages(project)

    html = page(**RANGE)

    # Attempted, sent, failed, bounced, delivered, rate, email opens, rate, clicks, rate, push opens, rate, opt-outs.
    assert table_rows(html, "channels") == [
        ["Email", "5", "4", "1", "1", "3", "60.0 %", "2", "66.7 %", "1", "33.3 %", "0", "—", "1"],
        ["SMS", "1", "1", "0", "0", "1", "100.0 %", "0", "—", "0", "—", "0", "—", "1"],
        ["Push", "1", "1", "0", "0", "1", "100.0 %", "0", "—", "0", "—", "1", "100.0 %", "0"],
    ]
    assert table_rows(html, "sources") == [
        ["Campaigns", "6", "5", "1", "1", "4", "66.7 %", "2", "66.7 %", "1", "33.3 %", "1", "100.0 %", "1"],
        ["Transactional", "1", "1", "0", "0", "1", "100.0 %", "0", "—", "0", "—", "0", "—", "1"],
    ]


def test_a_shorter_range_counts_only_its_days(pinpoint, project, page):
    put_app_events(pinpoint, project)
    record_messages(project)

    numbers = summary(page(start="2026-11-02", end="2026-11-02"))

    assert numbers["Active endpoints"] == "2"
    assert numbers["Sessions"] == "1"
    assert numbers["Messages sent"] == "0"
    assert numbers["Delivery rate (%)"] == "—"
    assert numbers["Opt-outs"] == "2"


def test_new_endpoints_are_counted_on_their_creation_day(project, page):
    def create(endpoint_id: str, when: datetime) -> None:
        event = parse_event("e", {"EventType": "signup", "Timestamp": when.isoformat()})
        events_put(project, {endpoint_id: (parse_endpoint(endpoint_id, {}), {"e": event})}, now=when)

    create("new-1", at(D1, 0))
    create("new-2", at(D1, 23))
    create("new-3", at(D3, 5))
    create("later", at(date(2026, 11, 4), 0))

    html = page(**RANGE)

    assert [row[2] for row in table_rows(html, "daily")] == ["2", "0", "1"]
    assert summary(html)["New endpoints"] == "3"


def test_default_range_is_the_last_30_days_ending_today(pinpoint, project, page):
    put(
        pinpoint,
        project,
        "ann",
        {"old": ("_session.start", at(date(2026, 10, 2), 12)), "in": ("_session.start", at(date(2026, 10, 3), 0))},
    )

    with time_machine.travel(datetime(2026, 11, 1, 23, 59, tzinfo=UTC), tick=False):
        html = page()

    assert 'name="start" value="2026-10-03"' in html
    assert 'name="end" value="2026-11-01"' in html
    assert len(table_rows(html, "daily")) == 30
    assert summary(html)["Sessions"] == "1"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"start": "2026-11-03", "end": "2026-11-01"}, "The end date is before the start date."),
        ({"start": "2026-08-01", "end": "2026-11-01"}, "Choose at most 92 days; this range has 93."),
        ({"start": "2026-11-31", "end": "2026-12-01"}, "Enter a valid date."),
        ({"start": "2026-11-01"}, "This field is required."),
    ],
)
def test_a_bad_range_is_a_form_error_and_shows_no_numbers(page, params, error):
    html = page(**params)

    assert error in html
    assert 'id="table-summary"' not in html
    assert 'id="headline"' not in html


def test_ninety_two_days_is_allowed(page):
    html = page(start="2026-08-02", end="2026-11-01")

    assert len(table_rows(html, "daily")) == 92


def csv_of(client, name: str, params: dict) -> list[list[str]]:
    response = client.get(reverse("dashboard_csv", args=[name]), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="engage-{name}-20261101-20261103.csv"'
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_csv_downloads_hold_the_tables_numbers(pinpoint, client, user, project):
    put_app_events(pinpoint, project)
    record_messages(project)
    client.force_login(user)

    daily = csv_of(client, "daily", RANGE)
    channels = csv_of(client, "channels", RANGE)
    numbers = {row[0]: row[1] for row in csv_of(client, "summary", RANGE)[1:]}

    assert daily[0][:4] == ["Day (UTC)", "Active endpoints", "New endpoints", "Sessions"]
    assert daily[1:] == [
        ["2026-11-01", "2", "0", "2", "6", "6", "1", "1", "1", "1", "0"],
        ["2026-11-02", "2", "0", "1", "0", "0", "0", "1", "0", "0", "2"],
        ["2026-11-03", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"],
    ]
    assert channels[0][6] == "Delivery rate (%)"
    assert channels[1] == ["Email", "5", "4", "1", "1", "3", "60.0", "2", "66.7", "1", "33.3", "0", "", "1"]
    assert numbers["Delivery rate (%)"] == "71.4"
    assert numbers["Active endpoints"] == "3"


def test_page_links_each_csv_for_its_range(pinpoint, project, page):
    html = page(**RANGE)

    for name in ("summary", "daily", "channels", "sources"):
        assert f'href="{reverse("dashboard_csv", args=[name])}?start=2026-11-01&amp;end=2026-11-03"' in html


def test_csv_of_a_bad_range_or_unknown_table_is_refused(client, user, project):
    client.force_login(user)

    bad_range = client.get(reverse("dashboard_csv", args=["daily"]), {"start": "2026-11-03", "end": "2026-11-01"})
    unknown = client.get(reverse("dashboard_csv", args=["secrets"]), RANGE)

    assert bad_range.status_code == 400
    assert b"The end date is before the start date." in bad_range.content
    assert unknown.status_code == 400


def test_another_projects_events_and_endpoints_are_never_shown(pinpoint_for, project, page):
    other_owner = MembershipFactory(role=Role.OWNER).user
    other = other_owner.memberships.get().project
    put_app_events(pinpoint_for(other_owner), other)
    record_messages(other)
    events_put(other, {"x": (parse_endpoint("x", {}), {})}, now=at(D2, 3))

    html = page(**RANGE)

    assert set(summary(html).values()) == {"0", "0.0", "—"}
    assert table_rows(html, "channels") == [["No messages in this range."]]
    assert all(row[1:] == ["0"] * 10 for row in table_rows(html, "daily"))


def test_csv_needs_a_login(client):
    response = client.get(reverse("dashboard_csv", args=["daily"]), RANGE)

    assert response.status_code == 302


def test_the_page_takes_a_bounded_number_of_queries(pinpoint, project, page, django_assert_max_num_queries):
    put_app_events(pinpoint, project)
    record_messages(project)

    # Ten for the session, the user, the project and the layout; three for the analytics, for any
    # number of days or events.
    with django_assert_max_num_queries(13):
        page(start="2026-08-02", end="2026-11-01")


def test_push_platforms_are_one_channel_and_journeys_a_source(project, page):
    journey = {"journey_id": "j1", "journey_activity_id": "email-1", "message_id": "jm-1"}
    events_record(
        [
            SystemEvent(
                project.id,
                key,
                f"push-{key}",
                "_campaign.send",
                at(D1, 9),
                {**CAMPAIGN, "delivery_type": platform, "campaign_send_status": status},
            )
            for key, platform, status in (
                ("ann", "GCM", "SUCCESS"),
                ("bob", "APNS", "SUCCESS"),
                ("cy", "APNS_SANDBOX", "FAILURE_PERMANENT"),
            )
        ]
        + [SystemEvent(project.id, "dan", "j-send", "_email.send", at(D2, 9), journey)]
    )

    html = page(**RANGE)

    assert [row[:6] for row in table_rows(html, "channels")] == [
        ["Email", "1", "1", "0", "0", "1"],
        ["Push", "3", "2", "1", "0", "2"],
    ]
    assert [row[:3] for row in table_rows(html, "sources")] == [["Campaigns", "3", "2"], ["Journeys", "1", "1"]]
