"""PutEvents' per-project limit on custom event types, through boto3."""

import pytest
from django.utils import timezone

from audience.models import Event
from audience.services import MAX_CUSTOM_EVENT_TYPES
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

STAMP = "2026-11-28T10:00:00Z"


def stored_types(project, count, prefix="type"):
    Event.objects.bulk_create(
        [
            Event(
                project=project,
                endpoint_key="old",
                client_event_id=f"{prefix}-{n}",
                event_type=f"{prefix}-{n}",
                timestamp=timezone.now(),
            )
            for n in range(count)
        ]
    )


def put(pinpoint, project, events: dict[str, str]):
    request = {
        "BatchItem": {
            "d1": {
                "Endpoint": {"ChannelType": "GCM", "Address": "token-1"},
                "Events": {event_id: {"EventType": kind, "Timestamp": STAMP} for event_id, kind in events.items()},
            }
        }
    }
    response = pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)
    return response["EventsResponse"]["Results"]["d1"]["EventsItemResponse"]


def test_a_new_custom_event_type_past_1500_is_refused_and_the_others_accepted(pinpoint, project):
    stored_types(project, MAX_CUSTOM_EVENT_TYPES)

    results = put(pinpoint, project, {"known": "type-7", "new": "brand-new", "standard": "_session.start"})

    assert results["known"] == {"StatusCode": 202, "Message": "Accepted"}
    assert results["standard"] == {"StatusCode": 202, "Message": "Accepted"}
    assert results["new"]["StatusCode"] == 400
    assert "already has 1500 custom event types" in results["new"]["Message"]
    assert not Event.objects.filter(project=project, event_type="brand-new").exists()
    assert Event.objects.filter(project=project, client_event_id__in=["known", "standard"]).count() == 2


def test_the_last_free_place_goes_to_the_first_new_type_of_the_request(pinpoint, project):
    stored_types(project, MAX_CUSTOM_EVENT_TYPES - 1)

    results = put(pinpoint, project, {"e1": "first-new", "e2": "second-new", "e3": "first-new"})

    assert [results[e]["StatusCode"] for e in ("e1", "e2", "e3")] == [202, 400, 202]
    assert set(
        Event.objects.filter(project=project, event_type__endswith="-new").values_list("event_type", flat=True)
    ) == {"first-new"}


def test_standard_event_types_do_not_count_towards_the_limit(pinpoint, project):
    stored_types(project, MAX_CUSTOM_EVENT_TYPES - 1)
    stored_types(project, 20, prefix="_standard")

    results = put(pinpoint, project, {"e1": "one-more"})

    assert results["e1"]["StatusCode"] == 202


def test_another_projects_event_types_do_not_count(pinpoint, project):
    stored_types(ProjectFactory(), MAX_CUSTOM_EVENT_TYPES)

    results = put(pinpoint, project, {"e1": "mine"})

    assert results["e1"]["StatusCode"] == 202
