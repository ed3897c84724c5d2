"""Stored XSS: hostile strings sent through the API land in every page that shows them escaped —
never as markup, in the HTML nor in the journey editor's JSON data island."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.templates import template_create
from projects.models import Role
from tests.security.conftest import PLAN_PRO, tenant

NOW = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = (
    "project",
    "attrvalue",
    "userattr",
    "segment",
    "campaign",
    "journey",
    "activity",
    "subject",
    "tdesc",
    "eventtype",
)


def payload(field: str) -> str:
    """Breaks out of an attribute and of a text node (no spaces: journey names refuse them);
    `x<field>` marks where it was rendered."""
    return f"\"'><img/src=x/onerror=alert(1)>x{field}<script>alert(1)</script>"


RAW_MARKUP = ("<img/src=x", "<script>alert(1)")


@pytest.fixture
def hostile(live_server, transactional_db):
    """Alice's project, every user-named thing in it a payload, all made through the API."""
    template_create(
        "EMAIL",
        "hostile",
        {"Subject": payload("subject"), "HtmlPart": "<p>Hi</p>", "TemplateDescription": payload("tdesc")},
    )
    a = tenant(live_server, "alice", role=Role.OWNER)
    app = f"/v1/apps/{a.project.id}"
    a.project.name = payload("project")
    a.project.save()
    a.ok(
        live_server,
        "PUT",
        f"{app}/endpoints/e1",
        {
            "ChannelType": "EMAIL",
            "Address": "ada@example.com",
            "Attributes": {"Plan": ["pro", payload("attrvalue")]},
            "User": {"UserId": "ada", "UserAttributes": {"Nick": [payload("userattr")]}},
        },
    )
    segment_id = a.ok(live_server, "POST", f"{app}/segments", {"Name": payload("segment"), "Dimensions": PLAN_PRO})[
        "Id"
    ]
    campaign_id = a.ok(
        live_server,
        "POST",
        f"{app}/campaigns",
        {
            "Name": payload("campaign"),
            "SegmentId": segment_id,
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
            "MessageConfiguration": {"EmailMessage": {"Title": "Hi", "HtmlBody": "<p>Hi</p>"}},
        },
    )["Id"]
    journey_id = a.ok(
        live_server,
        "POST",
        f"{app}/journeys",
        {
            "Name": payload("journey"),
            "StartCondition": {"SegmentStartCondition": {"SegmentId": segment_id}},
            "StartActivity": "welcome",
            "Activities": {
                "welcome": {
                    "Description": payload("activity"),
                    "EMAIL": {"TemplateName": "hostile"},
                }
            },
        },
    )["Id"]
    a.ok(
        live_server,
        "POST",
        f"{app}/events",
        {
            "BatchItem": {
                "e1": {
                    "Endpoint": {},
                    "Events": {"v1": {"EventType": payload("eventtype"), "Timestamp": NOW}},
                }
            }
        },
    )
    return {"segment": segment_id, "campaign": campaign_id, "journey": journey_id}


def pages(ids) -> dict[str, tuple[str, ...]]:
    """Page → the fields it must show (escaped); every page is also checked for all raw markup."""
    return {
        "/": ("project",),
        "/settings/": ("project",),
        "/audience/": (),
        "/audience/endpoints/e1": ("attrvalue", "userattr"),
        "/segments/": ("segment",),
        f"/segments/{ids['segment']}/": ("segment",),
        "/campaigns/": ("campaign",),
        f"/campaigns/{ids['campaign']}/": ("campaign",),
        "/campaigns/calendar/": (),
        "/journeys/": ("journey",),
        f"/journeys/{ids['journey']}/": ("journey", "activity"),
        f"/journeys/{ids['journey']}/analytics/": ("journey",),
        "/templates/": (),
        "/templates/email/hostile/": ("subject",),
        "/events/": (),
    }


def test_hostile_names_and_attributes_render_escaped_everywhere(client, hostile):
    client.force_login(get_user_model().objects.get(username="alice"))
    failures = []
    for url, expected in pages(hostile).items():
        response = client.get(url)
        content = response.content.decode()
        if response.status_code != 200:
            failures.append(f"{url}: {response.status_code}")
            continue
        raw = [markup for markup in RAW_MARKUP if markup in content]
        missing = [field for field in expected if f"x{field}" not in content]
        if raw or missing:
            failures.append(f"{url}: raw markup {raw}, fields not shown {missing}")
    assert not failures, "\n".join(failures)


def test_the_editors_data_island_holds_the_payload_as_inert_json(client, hostile):
    """json_script escapes <, > and & so neither </script> nor a tag can close the island."""
    client.force_login(get_user_model().objects.get(username="alice"))
    content = client.get(f"/journeys/{hostile['journey']}/").content.decode()
    island = content.split('id="journey-data"', 1)[1].split("</script>", 1)[0]

    assert "xactivity" in island and "xjourney" in island
    assert "<" not in island.split(">", 1)[1]


def test_a_template_name_with_markup_is_refused(live_server, transactional_db):
    a = tenant(live_server, "alice")
    response = a.call(live_server, "POST", "/v1/templates/%3Cscript%3E/email", {"Subject": "x", "TextPart": "y"})

    assert response.status in (400, 404)
    assert set(response.json()) == {"Message", "RequestID"}
