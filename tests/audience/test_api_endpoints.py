import json

import pytest
import time_machine

from audience.models import AudienceUser, Endpoint, Event
from projects.models import Role
from tests.conftest import send_signed
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = {
    "ChannelType": "EMAIL",
    "Address": "ada@example.com",
    "Attributes": {"Interests": ["math", "poetry"]},
    "Metrics": {"visits": 3},
    "Demographic": {"Platform": "web", "Timezone": "Europe/London"},
    "Location": {"Country": "GB", "Latitude": 51.5074, "Longitude": -0.1278},
    "User": {"UserId": "ada", "UserAttributes": {"FirstName": ["Ada"]}},
}


def test_update_endpoint_answers_accepted_and_get_returns_it(pinpoint, project):
    accepted = pinpoint.update_endpoint(ApplicationId=project.id, EndpointId="Ada-1", EndpointRequest=EMAIL)
    endpoint = pinpoint.get_endpoint(ApplicationId=project.id, EndpointId="ada-1")["EndpointResponse"]

    assert accepted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert accepted["MessageBody"]["Message"] == "Accepted"
    assert endpoint["Id"] == "Ada-1"
    assert endpoint["ApplicationId"] == project.id
    assert endpoint["ChannelType"] == "EMAIL"
    assert endpoint["Attributes"] == {"Interests": ["math", "poetry"]}
    assert endpoint["Metrics"] == {"visits": 3.0}
    assert endpoint["Demographic"] == {"Platform": "web", "Timezone": "Europe/London"}
    assert endpoint["Location"] == {"Country": "GB", "Latitude": 51.5, "Longitude": -0.1}
    assert endpoint["User"] == {"UserId": "ada", "UserAttributes": {"FirstName": ["Ada"]}}
    assert endpoint["EndpointStatus"] == "ACTIVE"
    assert endpoint["OptOut"] == "NONE"
    assert endpoint["RequestId"] == accepted["MessageBody"]["RequestID"]
    assert 0 <= int(endpoint["CohortId"]) <= 99


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"ChannelType": "FAX"}, "ChannelType must be one of"),
        ({"Attributes": {"x" * 51: ["v"]}}, "must be 1 to 50 characters"),
        ({"Attributes": {"a": ["v" * 101]}}, "at most 100"),
        ({"Attributes": {"a": [str(i) for i in range(51)]}}, "at most 50"),
        ({"Attributes": {"a": "not-a-list"}}, "list of strings"),
        ({"Metrics": {"m": "three"}}, "finite number"),
        ({"OptOut": "SOME"}, "OptOut must be one of"),
        ({"Location": {"Latitude": 91}}, "Latitude must be"),
        ({"Address": "x" * 16000}, "larger than 15 KB"),
    ],
)
def test_invalid_endpoints_are_bad_requests_and_write_nothing(live_server, access_key, project, body, reason):
    response = send_signed(
        live_server,
        "PUT",
        f"/v1/apps/{project.id}/endpoints/e1",
        key_id=access_key[0],
        secret=access_key[1],
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 400
    assert response.headers["x-amzn-errortype"] == "BadRequestException"
    assert reason in response.json()["Message"]
    assert not Endpoint.objects.exists()


def test_endpoint_id_with_forbidden_characters_is_a_bad_request(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="must not contain"):
        pinpoint.update_endpoint(ApplicationId=project.id, EndpointId="a$b", EndpointRequest={})


def test_get_unknown_endpoint_is_not_found(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_endpoint(ApplicationId=project.id, EndpointId="nobody")


def test_another_tenants_endpoint_is_not_found_and_untouched(pinpoint, pinpoint_for):
    mallory = UserFactory(username="mallory")
    foreign = MembershipFactory(user=mallory).project
    pinpoint_for(mallory).update_endpoint(ApplicationId=foreign.id, EndpointId="e1", EndpointRequest={"Address": "m"})

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_endpoint(ApplicationId=foreign.id, EndpointId="e1")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.update_endpoint(ApplicationId=foreign.id, EndpointId="e1", EndpointRequest={"Address": "x"})
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.delete_endpoint(ApplicationId=foreign.id, EndpointId="e1")

    assert Endpoint.objects.get(project=foreign).address == "m"


def test_viewer_reads_endpoints_but_cannot_write(pinpoint, pinpoint_for, project):
    pinpoint.update_endpoint(ApplicationId=project.id, EndpointId="e1", EndpointRequest={"Address": "a"})
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    client = pinpoint_for(viewer)

    client.get_endpoint(ApplicationId=project.id, EndpointId="e1")
    with pytest.raises(client.exceptions.ForbiddenException):
        client.update_endpoint(ApplicationId=project.id, EndpointId="e1", EndpointRequest={"Address": "b"})
    with pytest.raises(client.exceptions.ForbiddenException):
        client.delete_endpoint(ApplicationId=project.id, EndpointId="e1")


def test_delete_endpoint_returns_it(pinpoint, project):
    pinpoint.update_endpoint(ApplicationId=project.id, EndpointId="e1", EndpointRequest={"Address": "a"})

    deleted = pinpoint.delete_endpoint(ApplicationId=project.id, EndpointId="E1")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["EndpointResponse"]["Id"] == "e1"
    assert not Endpoint.objects.exists()


def test_batch_writes_every_item(pinpoint, project):
    items = [{"Id": f"e{i}", "ChannelType": "SMS", "Address": f"+1555010{i}"} for i in range(100)]

    pinpoint.update_endpoints_batch(ApplicationId=project.id, EndpointBatchRequest={"Item": items})

    assert Endpoint.objects.filter(project=project).count() == 100


def test_batch_over_100_items_is_refused_whole(pinpoint, project):
    items = [{"Id": f"e{i}", "Address": str(i)} for i in range(101)]

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="at most 100"):
        pinpoint.update_endpoints_batch(ApplicationId=project.id, EndpointBatchRequest={"Item": items})

    assert not Endpoint.objects.exists()


def test_batch_with_one_bad_item_names_it_and_writes_nothing(pinpoint, project):
    items = [{"Id": "good", "Address": "a"}, {"Id": "bad", "ChannelType": "PIGEON"}]

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="Item 1: ChannelType"):
        pinpoint.update_endpoints_batch(ApplicationId=project.id, EndpointBatchRequest={"Item": items})

    assert not Endpoint.objects.exists()


def test_user_endpoints_are_listed_and_deleted_together(pinpoint, project):
    for device in ("phone", "tablet"):
        pinpoint.update_endpoint(
            ApplicationId=project.id, EndpointId=device, EndpointRequest={"Address": device, "User": {"UserId": "u1"}}
        )
    pinpoint.update_endpoint(ApplicationId=project.id, EndpointId="other", EndpointRequest={"Address": "o"})

    listed = pinpoint.get_user_endpoints(ApplicationId=project.id, UserId="u1")["EndpointsResponse"]["Item"]
    deleted = pinpoint.delete_user_endpoints(ApplicationId=project.id, UserId="u1")["EndpointsResponse"]["Item"]

    assert sorted(e["Id"] for e in listed) == ["phone", "tablet"]
    assert sorted(e["Id"] for e in deleted) == ["phone", "tablet"]
    assert list(Endpoint.objects.values_list("key", flat=True)) == ["other"]
    assert not AudienceUser.objects.filter(user_id="u1").exists()


def test_unknown_user_is_not_found(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_user_endpoints(ApplicationId=project.id, UserId="ghost")


def test_remove_attributes_by_exact_name_and_glob(pinpoint, project):
    pinpoint.update_endpoint(
        ApplicationId=project.id,
        EndpointId="e1",
        EndpointRequest={"Attributes": {"utm_source": ["a"], "utm_medium": ["b"], "Plan": ["pro"]}},
    )

    removed = pinpoint.remove_attributes(
        ApplicationId=project.id,
        AttributeType="endpoint-custom-attributes",
        UpdateAttributesRequest={"Blacklist": ["utm_*"]},
    )["AttributesResource"]

    assert removed == {
        "ApplicationId": project.id,
        "AttributeType": "endpoint-custom-attributes",
        "Attributes": ["utm_medium", "utm_source"],
    }


def test_remove_attributes_of_an_unknown_type_is_a_bad_request(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        pinpoint.remove_attributes(
            ApplicationId=project.id, AttributeType="colours", UpdateAttributesRequest={"Blacklist": ["x"]}
        )


def test_put_events_stores_events_upserts_the_endpoint_and_answers_per_item(pinpoint, project):
    request = {
        "BatchItem": {
            "device-1": {
                "Endpoint": {"ChannelType": "GCM", "Address": "token-1"},
                "Events": {
                    "ev-1": {
                        "EventType": "_session.start",
                        "Timestamp": "2026-11-28T10:00:00Z",
                        "Session": {"Id": "s1", "StartTimestamp": "2026-11-28T10:00:00Z"},
                        "AppPackageName": "com.example",
                    },
                    "ev-2": {
                        "EventType": "purchase",
                        "Timestamp": "2026-11-28T10:05:00Z",
                        "Attributes": {"sku": "x" * 201},
                    },
                },
            }
        }
    }

    response = pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)

    results = response["EventsResponse"]["Results"]["device-1"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert results["EndpointItemResponse"] == {"StatusCode": 202, "Message": "Accepted"}
    assert results["EventsItemResponse"]["ev-1"] == {"StatusCode": 202, "Message": "Accepted"}
    assert results["EventsItemResponse"]["ev-2"]["StatusCode"] == 400
    assert "at most 200" in results["EventsItemResponse"]["ev-2"]["Message"]
    event = Event.objects.get()
    assert (event.event_type, event.session_id, event.app_package_name) == ("_session.start", "s1", "com.example")


def test_events_record_activity_for_recency(pinpoint, project):
    with time_machine.travel("2026-11-28T09:00:00Z", tick=False):
        pinpoint.update_endpoint(ApplicationId=project.id, EndpointId="d1", EndpointRequest={"Address": "t"})
    events = {"ev-1": {"EventType": "_session.start", "Timestamp": "2026-11-28T10:00:00Z"}}

    pinpoint.put_events(
        ApplicationId=project.id, EventsRequest={"BatchItem": {"d1": {"Endpoint": {}, "Events": events}}}
    )

    assert Endpoint.objects.get(key="d1").last_active_at.isoformat() == "2026-11-28T10:00:00+00:00"


def test_put_events_retried_stores_each_event_once(pinpoint, project):
    request = {
        "BatchItem": {
            "d1": {"Endpoint": {}, "Events": {"ev-1": {"EventType": "a", "Timestamp": "2026-11-28T10:00:00Z"}}}
        }
    }

    pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)
    pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)

    assert Event.objects.count() == 1


def test_put_events_over_100_events_is_refused(pinpoint, project):
    events = {f"ev{i}": {"EventType": "a", "Timestamp": "2026-11-28T10:00:00Z"} for i in range(101)}

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="at most 100"):
        pinpoint.put_events(
            ApplicationId=project.id, EventsRequest={"BatchItem": {"d1": {"Endpoint": {}, "Events": events}}}
        )

    assert not Event.objects.exists()


def test_put_events_with_a_bad_endpoint_still_stores_its_events(pinpoint, project):
    request = {
        "BatchItem": {
            "d1": {
                "Endpoint": {"ChannelType": "PIGEON"},
                "Events": {"ev-1": {"EventType": "a", "Timestamp": "2026-11-28T10:00:00Z"}},
            }
        }
    }

    results = pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)["EventsResponse"]["Results"]["d1"]

    assert results["EndpointItemResponse"]["StatusCode"] == 400
    assert results["EventsItemResponse"]["ev-1"]["StatusCode"] == 202
    assert Event.objects.count() == 1


def test_delete_app_deletes_its_audience(pinpoint, project):
    pinpoint.update_endpoint(
        ApplicationId=project.id, EndpointId="e1", EndpointRequest={"Address": "a", "User": {"UserId": "u1"}}
    )
    events = {"ev-1": {"EventType": "a", "Timestamp": "2026-11-28T10:00:00Z"}}
    pinpoint.put_events(
        ApplicationId=project.id, EventsRequest={"BatchItem": {"e1": {"Endpoint": {}, "Events": events}}}
    )

    pinpoint.delete_app(ApplicationId=project.id)

    assert not Endpoint.objects.exists()
    assert not AudienceUser.objects.exists()
    assert not Event.objects.exists()
