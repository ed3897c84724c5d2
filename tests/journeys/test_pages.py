"""Journey pages through the test client: the list, the editor page (its data for the canvas and the
server-rendered outline), roles, tenancy, and the editor's JSON views (save, state, metrics) calling
the real definition service."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from audience.models import Segment, SegmentType
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.templates import template_create
from journeys.engine import journeys_tick
from journeys.journeys import journey_create, journey_set_state
from journeys.models import Journey, JourneyState
from journeys.views import canvas_figures
from projects.models import Role
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def segment(project):
    return Segment.objects.create(project=project, name="Everyone", segment_type=SegmentType.DIMENSIONAL)


@pytest.fixture
def welcome():
    return template_create("EMAIL", "welcome", {"Subject": "Welcome aboard", "TextPart": "Hello there"})


def definition(segment, **members):
    """Email → wait → yes/no split on the email being opened → SMS or the end."""
    return {
        "Name": "Onboarding",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.pk}},
        "StartActivity": "hello",
        "Activities": {
            "hello": {"EMAIL": {"TemplateName": "welcome", "NextActivity": "pause"}},
            "pause": {"Wait": {"WaitTime": {"WaitFor": "P2D"}, "NextActivity": "opened"}},
            "opened": {
                "ConditionalSplit": {
                    "Condition": {
                        "Operator": "ALL",
                        "Conditions": [
                            {
                                "EventCondition": {
                                    "MessageActivity": "hello",
                                    "Dimensions": {
                                        "EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.open"]}
                                    },
                                }
                            }
                        ],
                    },
                    "FalseActivity": "nudge",
                }
            },
            "nudge": {"Holdout": {"Percentage": 10}},
        },
        **members,
    }


def post_json(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def editor_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="journey-data" type="application/json">') + len(
        '<script id="journey-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_list_shows_the_projects_journeys_with_state_entry_and_start(client, user, project, segment, welcome):
    journey = journey_create(project, definition(segment), user=user)
    other = ProjectFactory()
    Journey.objects.create(project=other, name="Elsewhere", definition={"Name": "Elsewhere"})
    client.force_login(user)

    html = client.get(reverse("journeys:journeys")).content.decode()

    assert reverse("journeys:journey", args=[journey.pk]) in html
    assert "Onboarding" in html
    assert 'journey-state-draft">Draft<' in html
    assert "Segment “Everyone”" in html
    assert "At publish" in html
    assert "Elsewhere" not in html
    assert reverse("journeys:journey_new") in html


def test_a_viewer_sees_journeys_but_cannot_create_one(client, project, segment, welcome):
    viewer = MembershipFactory(project=project, role=Role.VIEWER).user
    journey = journey_create(project, definition(segment))
    client.force_login(viewer)

    listing = client.get(reverse("journeys:journeys")).content.decode()
    editor = client.get(reverse("journeys:journey", args=[journey.pk]))

    assert "Onboarding" in listing
    assert reverse("journeys:journey_new") not in listing
    assert client.get(reverse("journeys:journey_new")).status_code == 403
    assert editor.status_code == 200
    assert editor_data(editor)["canEdit"] is False
    assert post_json(client, reverse("journeys:journey_create"), {"definition": {"Name": "x"}}).status_code == 403
    assert (
        post_json(client, reverse("journeys:journey_state", args=[journey.pk]), {"State": "ACTIVE"}).status_code == 403
    )


def test_another_projects_journey_is_not_found(client, user, project):
    other = ProjectFactory()
    foreign = Journey.objects.create(project=other, name="Theirs", definition={"Name": "Theirs"})
    client.force_login(user)

    for name in ("journeys:journey", "journeys:journey_metrics"):
        assert client.get(reverse(name, args=[foreign.pk])).status_code == 404
    for name in ("journeys:journey_save", "journeys:journey_state"):
        response = post_json(
            client, reverse(name, args=[foreign.pk]), {"definition": {"Name": "Mine"}, "State": "ACTIVE"}
        )
        assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"
    assert foreign.state == JourneyState.DRAFT


def test_editor_page_hands_the_canvas_the_journey_templates_and_segments(client, user, project, segment, welcome):
    journey = journey_create(project, definition(segment), user=user, layout={"hello": {"x": 10, "y": 20}})
    template_create("SMS", "nudge", {"Body": "Still there?"})
    client.force_login(user)

    data = editor_data(client.get(reverse("journeys:journey", args=[journey.pk])))

    assert data["journeyId"] == journey.pk
    assert data["definition"] == journey.definition
    assert data["layout"] == {"hello": {"x": 10, "y": 20}}
    assert data["state"] == "DRAFT"
    assert data["canEdit"] is True
    assert data["templates"]["EMAIL"] == [
        {"name": "welcome", "version": 1, "subject": "Welcome aboard", "body": "Hello there"}
    ]
    assert [t["name"] for t in data["templates"]["SMS"]] == ["nudge"]
    assert data["segments"] == [{"id": segment.pk, "name": "Everyone"}]
    assert data["urls"]["save"] == reverse("journeys:journey_save", args=[journey.pk])
    assert data["csrfToken"]


def test_outline_lists_activities_from_the_start_with_their_branches(client, user, project, segment, welcome):
    request = definition(segment)
    request["Activities"]["stray"] = {"Wait": {"WaitTime": {"WaitFor": "PT1H"}}}
    journey = journey_create(project, request, user=user)
    client.force_login(user)

    html = client.get(reverse("journeys:journey", args=[journey.pk])).content.decode()
    outline = html[html.index('id="outline"') :]

    positions = [outline.index(f'id="outline-{a}"') for a in ("hello", "pause", "opened", "nudge", "stray")]
    assert positions == sorted(positions)
    assert "Template “welcome”, the active version." in outline
    assert "Yes when _email.open of activity hello." in outline
    assert 'href="#outline-nudge"' in outline[outline.index('id="outline-opened"') :]
    assert "(not reached from the entry)" in outline[outline.index('id="outline-stray"') :]
    assert "Entry:</strong> Segment “Everyone”" in outline


def test_new_journey_page_starts_empty(client, user, project):
    client.force_login(user)

    data = editor_data(client.get(reverse("journeys:journey_new")))

    assert data["journeyId"] is None
    assert data["definition"] == {}
    assert data["urls"] == {"save": reverse("journeys:journey_create")}


def test_saving_a_new_journey_stores_the_definition_and_the_layout(client, user, project, segment, welcome):
    client.force_login(user)
    layout = {"_entry": {"x": 0, "y": 0}, "hello": {"x": 300, "y": 40.5}}

    response = post_json(
        client, reverse("journeys:journey_create"), {"definition": definition(segment), "layout": layout}
    )

    journey = Journey.objects.get(project=project)
    assert response.status_code == 200
    assert response.json() == {
        "id": journey.pk,
        "url": reverse("journeys:journey", args=[journey.pk]),
        "state": "DRAFT",
    }
    assert journey.definition["Activities"]["hello"] == {"EMAIL": {"TemplateName": "welcome", "NextActivity": "pause"}}
    assert journey.definition["StartActivity"] == "hello"
    assert journey.layout == layout
    assert journey.created_by == user


def test_saving_replaces_the_whole_definition(client, user, project, segment, welcome):
    journey = journey_create(project, definition(segment, RefreshFrequency="PT1H"), user=user)
    client.force_login(user)
    changed = definition(segment)
    del changed["StartActivity"]
    changed["Activities"]["hello"]["EMAIL"]["TemplateVersion"] = "1"

    response = post_json(
        client, reverse("journeys:journey_save", args=[journey.pk]), {"definition": changed, "layout": {}}
    )

    journey.refresh_from_db()
    assert response.status_code == 200
    assert "StartActivity" not in journey.definition
    assert "RefreshFrequency" not in journey.definition
    assert journey.definition["Activities"]["hello"]["EMAIL"]["TemplateVersion"] == "1"


def test_invalid_activities_are_answered_per_activity(client, user, project, segment, welcome):
    client.force_login(user)
    request = definition(segment)
    request["Activities"]["nudge"]["Holdout"]["Percentage"] = 150

    response = post_json(client, reverse("journeys:journey_create"), {"definition": request, "layout": {}})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [activity for activity, _message in errors] == ["nudge"]
    assert "Percentage" in errors[0][1]
    assert not Journey.objects.exists()


def test_editor_page_hands_the_settings_panel_the_journey_time_zones(client, user, project):
    client.force_login(user)

    zones = editor_data(client.get(reverse("journeys:journey_new")))["timezones"]

    assert zones[0] == "UTC"
    assert {"UTC+05:30", "UTC+13:45", "UTC-09:30", "UTC-11"} <= set(zones)
    assert "UTC+14" not in zones


def test_journey_settings_are_saved_as_pinpoint_members(client, user, project, segment, welcome):
    journey = journey_create(project, definition(segment), user=user)
    client.force_login(user)
    settings = {
        "Schedule": {"Timezone": "UTC+02", "StartTime": "2026-12-01T09:00:00+02:00"},
        "QuietTime": {"Start": "22:00", "End": "07:00"},
        "WaitForQuietTime": True,
        "Limits": {"DailyCap": 3, "TimeframeCap": {"Cap": 5, "Days": 7}, "EndpointReentryInterval": "P7D"},
        "SendingSchedule": True,
        "OpenHours": {"SMS": {"FRIDAY": [{"StartTime": "08:00", "EndTime": "12:00"}]}},
        "ClosedDays": {
            "EMAIL": [{"Name": "Holiday", "StartDateTime": "2026-12-24T00:00:00", "EndDateTime": "2026-12-27T00:00:00"}]
        },
    }

    response = post_json(
        client,
        reverse("journeys:journey_save", args=[journey.pk]),
        {"definition": {**definition(segment), **settings}, "layout": {}},
    )

    journey.refresh_from_db()
    assert response.status_code == 200
    assert journey.definition["Schedule"] == {"Timezone": "UTC+02", "StartTime": "2026-12-01T07:00:00.000Z"}
    for member in ("QuietTime", "WaitForQuietTime", "Limits", "SendingSchedule", "OpenHours", "ClosedDays"):
        assert journey.definition[member] == settings[member]


def test_invalid_journey_settings_are_answered_as_the_panel_places_them(client, user, project, segment, welcome):
    """The settings panel puts an error next to the field its message starts with (no activity id)."""
    journey = journey_create(project, definition(segment), user=user)
    client.force_login(user)
    bad = {"Limits": {"DailyCap": 500}, "QuietTime": {"Start": "25:00", "End": "07:00"}, "RefreshFrequency": "PT10M"}

    response = post_json(
        client,
        reverse("journeys:journey_save", args=[journey.pk]),
        {"definition": {**definition(segment), **bad}, "layout": {}},
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert sorted(message.split(" ")[0] for _activity, message in errors) == [
        "Limits.DailyCap",
        "QuietTime.Start",
        "RefreshFrequency",
    ]
    assert {activity for activity, _message in errors} == {""}


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"definition": "x"}', b'{"definition": {}, "layout": {"a": {"x": "left"}}}'],
)
def test_a_malformed_save_is_refused(client, user, project, body):
    client.force_login(user)

    response = client.post(reverse("journeys:journey_create"), body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0][0] == ""
    assert not Journey.objects.exists()


def test_saving_needs_the_csrf_token(user, project, segment, welcome):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = post_json(client, reverse("journeys:journey_create"), {"definition": definition(segment), "layout": {}})

    assert response.status_code == 403
    assert not Journey.objects.exists()


def test_publishing_checks_the_whole_journey_and_names_the_activity(client, user, project, segment, welcome):
    request = definition(segment)
    request["Activities"]["pause"]["Wait"]["NextActivity"] = "gone"
    journey = journey_create(project, request, user=user)
    client.force_login(user)

    response = post_json(client, reverse("journeys:journey_state", args=[journey.pk]), {"State": "ACTIVE"})

    journey.refresh_from_db()
    assert response.status_code == 400
    assert "pause" in [activity for activity, _message in response.json()["errors"]]
    assert journey.state == JourneyState.DRAFT


def test_publish_then_cancel(client, user, project, segment, welcome):
    journey = journey_create(project, definition(segment), user=user)
    client.force_login(user)
    url = reverse("journeys:journey_state", args=[journey.pk])

    published = post_json(client, url, {"State": "ACTIVE"})
    cancelled = post_json(client, url, {"State": "CANCELLED"})

    journey.refresh_from_db()
    assert published.status_code == 200
    assert published.json()["state"] == "ACTIVE"
    assert cancelled.json()["state"] == "CANCELLED"
    assert journey.state == JourneyState.CANCELLED
    assert post_json(client, url, {"State": "DRAFT"}).status_code == 400


def test_the_activities_of_an_active_journey_cannot_be_saved(client, user, project, segment, welcome):
    journey = journey_set_state(journey_create(project, definition(segment), user=user), "ACTIVE")
    client.force_login(user)
    changed = definition(segment)
    changed["Activities"]["nudge"]["Holdout"]["Percentage"] = 20

    response = post_json(
        client, reverse("journeys:journey_save", args=[journey.pk]), {"definition": changed, "layout": {}}
    )

    journey.refresh_from_db()
    assert response.status_code == 409
    assert "Activities" in response.json()["errors"][0][1]
    assert journey.definition["Activities"]["nudge"]["Holdout"]["Percentage"] == 10


def test_metrics_of_a_draft_say_when_they_appear(client, user, project, segment, welcome):
    journey = journey_create(project, definition(segment), user=user)
    client.force_login(user)

    answer = client.get(reverse("journeys:journey_metrics", args=[journey.pk])).json()

    assert answer["available"] is False
    assert "once the journey is published" in answer["message"]
    assert answer["activities"] == {}


def test_metrics_of_a_running_journey_count_each_activity_and_branch(client, user, project, segment, welcome):
    endpoints_write(
        project,
        [
            parse_endpoint("ada", {"ChannelType": "EMAIL", "Address": "ada@example.com"}),
            parse_endpoint("bob", {"ChannelType": "EMAIL", "Address": "bob@example.com"}),
        ],
    )
    request = definition(segment)
    request["Activities"]["pause"]["Wait"]["WaitTime"] = {"WaitFor": "PT1H"}
    journey = journey_set_state(journey_create(project, request, user=user), "ACTIVE")
    journeys_tick(now=journey.start_time + timedelta(minutes=1))
    journeys_tick(now=journey.start_time + timedelta(hours=2))
    client.force_login(user)

    answer = client.get(reverse("journeys:journey_metrics", args=[journey.pk])).json()

    assert answer["available"] is True
    figures = answer["activities"]
    assert figures["hello"]["entered"] == 2
    assert figures["hello"]["sent"] + figures["hello"]["failed"] <= 2
    assert figures["pause"] == {"entered": 2, "waiting": 0}
    assert figures["opened"]["entered"] == 2
    assert figures["opened"]["branches"] == {"true": 0, "false": 2}
    assert figures["nudge"]["entered"] == 2


def test_the_list_reads_a_bounded_number_of_queries(
    client, user, project, segment, welcome, django_assert_max_num_queries
):
    for n in range(5):
        journey_create(project, definition(segment, Name=f"Journey{n}"), user=user)
    client.force_login(user)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("journeys:journeys"))

    assert response.content.decode().count('journey-state-draft">Draft<') == 5


def test_canvas_figures_key_branch_counts_by_the_nodes_handles():
    multi = {"MultiCondition": {"Branches": [{}, {}], "DefaultActivity": "x"}}
    random = {"RandomSplit": {"Branches": [{"Percentage": 40}, {"Percentage": 60}]}}
    counted = {"ActivityType": "MULTI_CONDITIONAL_SPLIT", "Metrics": {"ACTIVE": "1", "Branch_1": "2", "Branch_3": "4"}}
    message = {"ActivityType": "MESSAGE", "Metrics": {"ACTIVE": "0", "SUCCESS": "5", "FAILURE": "1", "SENT": "4"}}

    assert canvas_figures(multi, counted) == {
        "entered": 7,
        "waiting": 1,
        "branches": {"b0": 2, "b1": 0, "default": 4},
    }
    assert canvas_figures(random, {"Metrics": {"Branch_2": "3"}})["branches"] == {"b0": 0, "b1": 3}
    assert canvas_figures({"EMAIL": {}}, message) == {"entered": 6, "waiting": 0, "sent": 4, "failed": 1}
