"""Event streams: PutEventStream/GetEventStream/DeleteEventStream through boto3, and every stored event
shipped in Pinpoint's record format to moto's real Kinesis and Firehose servers or to a webhook
served on loopback — in batches, at least once, after failures, per project."""

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import time_machine
from botocore.exceptions import ClientError
from django.utils import timezone

from audience.models import Event, EventStream
from audience.services import SystemEvent, events_record
from audience.streams.services import event_stream_delete, event_stream_put, stream_ship, streams_sweep
from engage.webhooks import project_secret
from projects.models import Role
from tests.campaigns.provider_server import ProviderServer, closed_port
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROLE = "arn:aws:iam::123456789012:role/PinpointEvents"


@pytest.fixture
def webhook():
    """A webhook receiver on loopback (records every POST; answers 200 unless scripted)."""
    server = ProviderServer()
    yield server
    server.stop()


def hook_url(server: ProviderServer) -> str:
    return server.url + "/engage-events"


def records(server: ProviderServer) -> list[dict]:
    return [record for received in server.received for record in received.json()["records"]]


@pytest.fixture
def aws(moto_server, settings):
    """Engage's Kinesis and Firehose pointed at moto's server."""
    settings.ENGAGE_KINESIS_ENDPOINT_URL = moto_server
    settings.ENGAGE_FIREHOSE_ENDPOINT_URL = moto_server
    return moto_server


def kinesis_stream(endpoint_url: str) -> tuple[str, object]:
    client = boto3.client("kinesis", endpoint_url=endpoint_url, region_name="us-east-1")
    name = f"engage-{uuid.uuid4().hex[:10]}"
    client.create_stream(StreamName=name, ShardCount=1)
    arn = client.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
    return arn, client


def kinesis_records(client, arn: str) -> list[dict]:
    name = arn.rpartition("/")[2]
    shard = client.describe_stream(StreamName=name)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    answer = client.get_records(ShardIterator=iterator["ShardIterator"], Limit=10000)
    return [json.loads(r["Data"]) | {"_partition_key": r["PartitionKey"]} for r in answer["Records"]]


def put_events(pinpoint, project, endpoint_id: str, events: dict, endpoint: dict | None = None):
    return pinpoint.put_events(
        ApplicationId=project.id,
        EventsRequest={"BatchItem": {endpoint_id: {"Endpoint": endpoint or {}, "Events": events}}},
    )


def event(event_type: str, at: str = "2026-11-28T10:00:00Z", **extra) -> dict:
    return {"EventType": event_type, "Timestamp": at, **extra}


def system_events(project, count: int, event_type: str = "_email.send") -> list[SystemEvent]:
    now = timezone.now()
    return [
        SystemEvent(
            project_id=project.id,
            endpoint_key=f"e{i}",
            event_id=f"m{i}:{event_type}",
            event_type=event_type,
            timestamp=now,
            attributes={"message_id": f"m{i}", "from_address": "shop@example.com", "destination": f"u{i}@example.com"},
        )
        for i in range(count)
    ]


def waiting(project) -> int:
    return Event.objects.filter(project=project, stream_pending=True).count()


def test_put_get_and_delete_event_stream(pinpoint, project, user):
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/engage-events"

    put = pinpoint.put_event_stream(
        ApplicationId=project.id, WriteEventStream={"DestinationStreamArn": arn, "RoleArn": ROLE}
    )["EventStream"]
    got = pinpoint.get_event_stream(ApplicationId=project.id)["EventStream"]
    deleted = pinpoint.delete_event_stream(ApplicationId=project.id)["EventStream"]

    assert put["ApplicationId"] == project.id
    assert (put["DestinationStreamArn"], put["RoleArn"]) == (arn, ROLE)
    assert put["LastUpdatedBy"] == f"arn:aws:iam::000000000000:user/{user.username}"
    assert put["LastModifiedDate"].endswith("Z")
    assert got == put
    assert deleted == put
    with pytest.raises(ClientError) as raised:
        pinpoint.get_event_stream(ApplicationId=project.id)
    assert raised.value.response["Error"]["Code"] == "NotFoundException"


def test_put_event_stream_replaces_the_destination(pinpoint, project):
    first = "arn:aws:kinesis:us-east-1:123456789012:stream/one"
    second = "arn:aws:firehose:eu-west-1:123456789012:deliverystream/two"

    pinpoint.put_event_stream(
        ApplicationId=project.id, WriteEventStream={"DestinationStreamArn": first, "RoleArn": ROLE}
    )
    pinpoint.put_event_stream(
        ApplicationId=project.id, WriteEventStream={"DestinationStreamArn": second, "RoleArn": ROLE}
    )

    assert pinpoint.get_event_stream(ApplicationId=project.id)["EventStream"]["DestinationStreamArn"] == second
    assert EventStream.objects.count() == 1


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        ("arn:aws:s3:::my-bucket", "must be a Kinesis data stream ARN"),
        ("arn:aws:kinesis:us-east-1:123456789012:deliverystream/x", "names a stream/"),
        ("http://example.com/hook", "plain http://"),
        ("ftp://example.com/hook", "must be a Kinesis data stream ARN"),
    ],
)
def test_put_event_stream_refuses_destinations_engage_cannot_ship_to(pinpoint, project, destination, message):
    with pytest.raises(ClientError) as raised:
        pinpoint.put_event_stream(
            ApplicationId=project.id, WriteEventStream={"DestinationStreamArn": destination, "RoleArn": ROLE}
        )

    assert raised.value.response["Error"]["Code"] == "BadRequestException"
    assert message in raised.value.response["Error"]["Message"]
    assert not EventStream.objects.exists()


def test_delete_without_a_stream_is_not_found(pinpoint, project):
    with pytest.raises(ClientError) as raised:
        pinpoint.delete_event_stream(ApplicationId=project.id)

    assert raised.value.response["Error"]["Code"] == "NotFoundException"


def test_another_tenants_stream_is_invisible_and_untouchable(pinpoint, project):
    other = ProjectFactory()
    event_stream_put(other, destination="https://hooks.example.com/x", role_arn=ROLE, updated_by="x")

    for call in (pinpoint.get_event_stream, pinpoint.delete_event_stream):
        with pytest.raises(ClientError) as raised:
            call(ApplicationId=other.id)
        assert raised.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError):
        pinpoint.put_event_stream(
            ApplicationId=other.id, WriteEventStream={"DestinationStreamArn": "https://a.example/", "RoleArn": ROLE}
        )
    assert EventStream.objects.get(project=other).destination_stream_arn == "https://hooks.example.com/x"


def test_a_viewer_reads_but_cannot_change_the_stream(pinpoint_for, project):
    viewer = UserFactory(username="vera")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    event_stream_put(project, destination="https://hooks.example.com/x", role_arn=ROLE, updated_by="x")
    client = pinpoint_for(viewer)

    assert client.get_event_stream(ApplicationId=project.id)["EventStream"]["RoleArn"] == ROLE
    with pytest.raises(ClientError) as raised:
        client.delete_event_stream(ApplicationId=project.id)
    assert raised.value.response["Error"]["Code"] == "ForbiddenException"


def test_put_events_reach_kinesis_in_pinpoints_record_format(pinpoint, project, aws):
    arn, kinesis = kinesis_stream(aws)
    pinpoint.put_event_stream(ApplicationId=project.id, WriteEventStream={"DestinationStreamArn": arn, "RoleArn": ROLE})
    endpoint = {
        "ChannelType": "EMAIL",
        "Address": "ada@example.com",
        "Demographic": {
            "Locale": "en_US",
            "Make": "Google",
            "Model": "Pixel",
            "Platform": "android",
            "AppVersion": "2.1",
        },
    }
    session = {"Id": "s-1", "StartTimestamp": "2026-11-28T09:59:00Z", "StopTimestamp": "2026-11-28T10:00:00Z"}

    put_events(
        pinpoint,
        project,
        "Ada-1",
        {
            "ev1": event(
                "_session.stop",
                Session=session,
                Attributes={"screen": "home"},
                Metrics={"items": 3},
                AppPackageName="com.example",
                AppTitle="Example",
                AppVersionCode="21",
                SdkName="aws-amplify",
                ClientSdkVersion="6.0",
            ),
            "ev2": event("purchase", at="2026-11-28T10:00:01Z"),
        },
        endpoint=endpoint,
    )

    records = sorted(kinesis_records(kinesis, arn), key=lambda r: r["event_timestamp"])
    assert [r["event_type"] for r in records] == ["_session.stop", "purchase"]
    first = records[0]
    assert first["event_timestamp"] == int(datetime(2026, 11, 28, 10, tzinfo=UTC).timestamp() * 1000)
    assert first["arrival_timestamp"] >= first["event_timestamp"]
    assert first["event_version"] == "3.1"
    assert first["application"] == {
        "app_id": project.id,
        "package_name": "com.example",
        "title": "Example",
        "version_name": "2.1",
        "version_code": "21",
        "sdk": {"name": "aws-amplify", "version": "6.0"},
    }
    assert first["client"] == {"client_id": "Ada-1"}
    assert first["device"] == {
        "locale": {"code": "en_US", "country": "US", "language": "en"},
        "make": "Google",
        "model": "Pixel",
        "platform": {"name": "android"},
    }
    assert first["session"] == {
        "session_id": "s-1",
        "start_timestamp": first["event_timestamp"] - 60_000,
        "stop_timestamp": first["event_timestamp"],
    }
    assert (first["attributes"], first["metrics"]) == ({"screen": "home"}, {"items": 3.0})
    assert first["endpoint"]["Address"] == "ada@example.com"
    assert first["awsAccountId"] == "000000000000"
    assert first["event_id"] == "ev1"
    assert first["_partition_key"] == "ada-1"
    assert waiting(project) == 0
    assert EventStream.objects.get(project=project).records_sent == 2


def test_events_stored_before_the_stream_existed_are_not_streamed(pinpoint, project, webhook):
    put_events(pinpoint, project, "a", {"early": event("before")})

    pinpoint.put_event_stream(
        ApplicationId=project.id, WriteEventStream={"DestinationStreamArn": hook_url(webhook), "RoleArn": ROLE}
    )
    put_events(pinpoint, project, "a", {"late": event("after")})

    assert [r["event_type"] for r in records(webhook)] == ["after"]


def test_a_repeated_put_events_call_is_streamed_once(pinpoint, project, webhook):
    event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")

    put_events(pinpoint, project, "a", {"same": event("tap")})
    put_events(pinpoint, project, "a", {"same": event("tap")})

    assert [r["event_id"] for r in records(webhook)] == ["same"]


def test_firehose_records_arrive_newline_delimited_in_its_s3_destination(project, aws, s3):
    firehose = boto3.client("firehose", endpoint_url=aws, region_name="us-east-1")
    name = f"engage-{uuid.uuid4().hex[:10]}"
    arn = firehose.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{s3.name}", "Prefix": "pp/"},
    )["DeliveryStreamARN"]
    event_stream_put(project, destination=arn, role_arn=ROLE, updated_by="x")

    events_record(system_events(project, 3))

    lines = [line for key in s3.list_keys("pp/") for line in s3.get(key).decode().splitlines()]
    records = [json.loads(line) for line in lines]
    assert sorted(r["client"]["client_id"] for r in records) == ["e0", "e1", "e2"]
    assert {r["event_type"] for r in records} == {"_email.send"}
    assert waiting(project) == 0


def test_email_events_carry_the_mail_facet(project, webhook):
    event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")

    events_record(system_events(project, 1))

    record = records(webhook)[0]
    assert record["facets"]["email_channel"]["mail_event"]["mail"] == {
        "message_id": "m0",
        "message_send_timestamp": record["event_timestamp"],
        "from_address": "shop@example.com",
        "destination": ["u0@example.com"],
    }
    assert record["client_context"] == {"custom": {"legacy_identifier": project.id}}
    assert "endpoint" not in record  # e0 is no stored endpoint


def test_webhook_batches_are_signed_with_the_projects_secret(project, webhook):
    event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")

    events_record(system_events(project, 2))

    [received] = webhook.received
    headers = {name.lower(): value for name, value in received.headers.items()}
    expected = hmac.new(
        project_secret(project.id).encode(),
        headers["x-engage-timestamp"].encode() + b"." + received.body,
        hashlib.sha256,
    ).hexdigest()
    assert received.method == "POST" and received.path == "/engage-events"
    assert headers["x-engage-signature"] == f"v1={expected}"
    assert headers["content-type"] == "application/json"
    assert received.json()["application_id"] == project.id
    assert len(received.json()["records"]) == 2


def test_more_than_500_events_ship_in_batches_of_at_most_500(project, webhook):
    event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")

    events_record(system_events(project, 1203))

    sizes = [len(received.json()["records"]) for received in webhook.received]
    assert sizes == [500, 500, 203]
    assert len({r["client"]["client_id"] for r in records(webhook)}) == 1203
    assert waiting(project) == 0


def test_a_destination_that_is_down_keeps_the_events_and_gets_them_after_the_backoff(project, webhook):
    event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")
    webhook.answer((503, {}, "busy"))

    events_record(system_events(project, 4))

    stream = EventStream.objects.get(project=project)
    assert waiting(project) == 4
    assert stream.attempts == 1
    assert "HTTP 503" in stream.last_error
    assert stream.next_attempt_at > timezone.now()
    webhook.received.clear()
    webhook.answer((200, {}, ""))
    assert streams_sweep() == []  # not due yet: backing off

    with time_machine.travel(stream.next_attempt_at + timedelta(seconds=1)):
        swept = streams_sweep()

    assert swept == [project.id]
    assert sorted(r["client"]["client_id"] for r in records(webhook)) == ["e0", "e1", "e2", "e3"]
    assert waiting(project) == 0
    stream.refresh_from_db()
    assert (stream.attempts, stream.next_attempt_at, stream.records_sent) == (0, None, 4)
    assert "HTTP 503" in stream.last_error  # kept for the page, with its time, next to the last success
    assert stream.last_success_at > stream.last_error_at


def test_an_unreachable_destination_backs_off_longer_each_time(project):
    event_stream_put(project, destination=closed_port(), role_arn=ROLE, updated_by="x")
    events_record(system_events(project, 1))
    first = EventStream.objects.get(project=project)

    with time_machine.travel(first.next_attempt_at + timedelta(seconds=1)):
        streams_sweep()
        second = EventStream.objects.get(project=project)

    assert "cannot be reached" in first.last_error
    assert second.attempts == 2
    assert second.next_attempt_at - second.last_error_at > first.next_attempt_at - first.last_error_at
    assert waiting(project) == 1


def test_a_missing_kinesis_stream_is_reported_and_nothing_is_lost(project, aws):
    event_stream_put(
        project, destination="arn:aws:kinesis:us-east-1:123456789012:stream/nowhere", role_arn=ROLE, updated_by="x"
    )

    events_record(system_events(project, 2))

    stream = EventStream.objects.get(project=project)
    assert "ResourceNotFoundException" in stream.last_error
    assert waiting(project) == 2


def test_a_held_lease_keeps_a_second_shipper_out(project, webhook):
    event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")
    EventStream.objects.filter(project=project).update(lease_until=timezone.now() + timedelta(minutes=5))

    events_record(system_events(project, 2))

    assert stream_ship(project.id) == 0
    assert streams_sweep() == []
    assert waiting(project) == 2
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert streams_sweep() == [project.id]  # the holder died: its lease lapsed
    assert len(records(webhook)) == 2


def test_events_reach_only_their_own_projects_stream(project, webhook):
    other = ProjectFactory()
    other_hook = ProviderServer()
    try:
        event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")
        event_stream_put(other, destination=hook_url(other_hook), role_arn=ROLE, updated_by="x")
        silent = ProjectFactory()

        events_record(system_events(project, 2) + system_events(other, 1) + system_events(silent, 1))

        assert {r["application"]["app_id"] for r in records(webhook)} == {project.id}
        assert len(records(webhook)) == 2
        assert [r["application"]["app_id"] for r in records(other_hook)] == [other.id]
        assert Event.objects.filter(project=silent, stream_pending__isnull=False).count() == 0
    finally:
        other_hook.stop()


def test_deleting_the_stream_forgets_waiting_events(project, webhook):
    event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")
    webhook.answer((500, {}, "broken"))
    events_record(system_events(project, 3))

    event_stream_delete(project)

    assert waiting(project) == 0
    assert streams_sweep(timezone.now() + timedelta(days=1)) == []


def test_replacing_the_destination_sends_the_waiting_events_there_at_once(project, webhook):
    broken = ProviderServer()
    broken.answer((500, {}, "broken"))
    try:
        event_stream_put(project, destination=hook_url(broken), role_arn=ROLE, updated_by="x")
        events_record(system_events(project, 2))
        assert waiting(project) == 2

        event_stream_put(project, destination=hook_url(webhook), role_arn=ROLE, updated_by="x")
    finally:
        broken.stop()

    assert len(records(webhook)) == 2
    assert waiting(project) == 0


def test_a_project_without_a_stream_marks_nothing(project):
    events_record(system_events(project, 3))

    assert Event.objects.filter(project=project).count() == 3
    assert waiting(project) == 0
