"""PutEvents' per-project limits on custom event types and event attribute/metric names, through boto3."""

import importlib

import pytest
from django.db import connection
from django.utils import timezone

from audience.models import Event, EventKey, EventKeyKind
from audience.services import MAX_CUSTOM_EVENT_TYPES, MAX_EVENT_KEYS_PER_KIND
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


# Event attribute and metric names: at most 500 of each per project.


def known_names(project, kind, count, prefix="name"):
    EventKey.objects.bulk_create([EventKey(project=project, kind=kind, name=f"{prefix}-{n}") for n in range(count)])


def put_with(pinpoint, project, events: dict[str, dict]):
    request = {
        "BatchItem": {
            "d1": {
                "Endpoint": {"ChannelType": "GCM", "Address": "token-1"},
                "Events": {
                    event_id: {"EventType": "shop", "Timestamp": STAMP, **fields} for event_id, fields in events.items()
                },
            }
        }
    }
    response = pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)
    return response["EventsResponse"]["Results"]["d1"]["EventsItemResponse"]


def names(project, kind):
    return set(EventKey.objects.filter(project=project, kind=kind).values_list("name", flat=True))


def test_the_501st_event_attribute_name_is_refused_for_that_event_only(pinpoint, project):
    put_with(pinpoint, project, {f"seed-{n}": {"Attributes": {f"name-{n}": "v"}} for n in range(99)})
    known_names(project, EventKeyKind.ATTRIBUTE, MAX_EVENT_KEYS_PER_KIND - 100, prefix="more")
    assert len(names(project, EventKeyKind.ATTRIBUTE)) == MAX_EVENT_KEYS_PER_KIND - 1

    results = put_with(
        pinpoint,
        project,
        {
            "500th": {"Attributes": {"new-a": "v", "name-3": "v"}},
            "501st": {"Attributes": {"new-b": "v"}},
            "known": {"Attributes": {"name-7": "v", "new-a": "w", "_reserved": "x"}},
        },
    )

    assert results["500th"] == {"StatusCode": 202, "Message": "Accepted"}
    assert results["known"] == {"StatusCode": 202, "Message": "Accepted"}
    assert results["501st"]["StatusCode"] == 400
    assert "at most 500" in results["501st"]["Message"]
    assert "event attribute names" in results["501st"]["Message"] and "new-b" in results["501st"]["Message"]
    assert set(
        Event.objects.filter(project=project, client_event_id__in=["500th", "501st", "known"]).values_list(
            "client_event_id", flat=True
        )
    ) == {"500th", "known"}
    assert len(names(project, EventKeyKind.ATTRIBUTE)) == MAX_EVENT_KEYS_PER_KIND
    assert "_reserved" not in names(project, EventKeyKind.ATTRIBUTE)


def test_the_501st_event_metric_name_is_refused_and_known_metrics_keep_working(pinpoint, project):
    known_names(project, EventKeyKind.METRIC, MAX_EVENT_KEYS_PER_KIND)

    results = put_with(
        pinpoint,
        project,
        {
            "new": {"Metrics": {"brand-new": 1}},
            "known": {"Metrics": {"name-1": 2, "_quantity": 3}, "Attributes": {"colour": "red"}},
        },
    )

    assert results["known"] == {"StatusCode": 202, "Message": "Accepted"}
    assert results["new"]["StatusCode"] == 400
    assert "event metric names" in results["new"]["Message"] and "brand-new" in results["new"]["Message"]
    assert "brand-new" not in names(project, EventKeyKind.METRIC)
    assert names(project, EventKeyKind.ATTRIBUTE) == {"colour"}  # the other kind has its own 500


def test_another_projects_event_names_do_not_count(pinpoint, project):
    other = ProjectFactory()
    known_names(other, EventKeyKind.ATTRIBUTE, MAX_EVENT_KEYS_PER_KIND)
    known_names(other, EventKeyKind.METRIC, MAX_EVENT_KEYS_PER_KIND)

    results = put_with(pinpoint, project, {"e1": {"Attributes": {"mine": "v"}, "Metrics": {"mine": 1}}})

    assert results["e1"]["StatusCode"] == 202
    assert names(project, EventKeyKind.ATTRIBUTE) == names(project, EventKeyKind.METRIC) == {"mine"}
    assert "mine" not in names(other, EventKeyKind.ATTRIBUTE)


def test_the_migration_registers_the_names_of_stored_custom_events(project):
    other = ProjectFactory()
    now = timezone.now()
    Event.objects.bulk_create(
        [
            Event(
                project=project,
                endpoint_key="a",
                client_event_id="1",
                event_type="shop",
                timestamp=now,
                attributes={"colour": "red", "_internal": "x"},
                metrics={"price": 2.0},
            ),
            Event(
                project=project,
                endpoint_key="a",
                client_event_id="2",
                event_type="shop",
                timestamp=now,
                attributes={"colour": "blue", "size": "L"},
            ),
            Event(
                project=project,
                endpoint_key="a",
                client_event_id="3",
                event_type="_email.send",
                timestamp=now,
                attributes={"campaign_id": "c1"},
            ),
            Event(
                project=other,
                endpoint_key="b",
                client_event_id="1",
                event_type="view",
                timestamp=now,
                metrics={"seconds": 3.0},
            ),
        ]
    )
    backfill = importlib.import_module("audience.migrations.0009_event_keys").backfill

    with connection.schema_editor() as editor:
        backfill(None, editor)
        backfill(None, editor)  # running twice adds nothing

    assert set(EventKey.objects.values_list("project_id", "kind", "name")) == {
        (project.id, EventKeyKind.ATTRIBUTE, "colour"),
        (project.id, EventKeyKind.ATTRIBUTE, "size"),
        (project.id, EventKeyKind.METRIC, "price"),
        (other.id, EventKeyKind.METRIC, "seconds"),
    }
