"""The CUSTOM channel transport and Pinpoint's HEAD check, against a real HTTP server on loopback."""

import hashlib
import hmac

import pytest

from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.deliveries import FLUSH_EVERY, OutgoingMessage, deliveries_create, deliveries_send_batch
from campaigns.models import Delivery, DeliveryStatus
from campaigns.transports import DeliveryError
from campaigns.transports.custom import CustomTransport, CustomUriInvalid, custom_uri_check
from engage.webhooks import project_secret
from tests.campaigns.provider_server import ProviderServer, closed_port


@pytest.fixture
def receiver():
    server = ProviderServer()
    yield server
    server.stop()


def custom(project, uri, *, count=1, data="promo-42", endpoint_prefix="", **extra):
    messages = [
        OutgoingMessage(
            channel="CUSTOM",
            address=f"user-{i}",
            endpoint_key=f"{endpoint_prefix}{i}" if endpoint_prefix else "",
            payload={"Data": data, "DeliveryUri": uri, **extra},
        )
        for i in range(count)
    ]
    return deliveries_create(project, messages, enqueue=False)


def send_many(rows):
    transport = CustomTransport()
    try:
        return transport.send_many(rows)
    finally:
        transport.close()


def test_a_call_carries_pinpoints_payload_with_the_endpoint_documents(project, receiver):
    endpoints_write(
        project,
        [parse_endpoint("Ep-0", {"ChannelType": "CUSTOM", "Address": "chat:42", "Attributes": {"Plan": ["pro"]}})],
    )
    row = custom(
        project,
        receiver.url + "/hook",
        endpoint_prefix="ep-",
        CampaignId="c1",
        TreatmentId="0",
        ActivityId="a1",
        ScheduledTime="2026-11-28T18:00:00.000Z",
    )[0]

    outcomes = send_many([row])

    assert outcomes == {row.id: row.message_id}
    body = receiver.received[0].json()
    assert {k: body[k] for k in ("Message", "Data", "ApplicationId", "CampaignId", "TreatmentId", "ActivityId")} == {
        "Message": {},
        "Data": "promo-42",
        "ApplicationId": project.id,
        "CampaignId": "c1",
        "TreatmentId": "0",
        "ActivityId": "a1",
    }
    assert body["ScheduledTime"] == "2026-11-28T18:00:00.000Z"
    endpoint = body["Endpoints"]["Ep-0"]
    assert (endpoint["ChannelType"], endpoint["Address"], endpoint["Attributes"]) == (
        "CUSTOM",
        "chat:42",
        {"Plan": ["pro"]},
    )
    assert "ApplicationId" not in endpoint
    assert body["MessageIds"] == {"Ep-0": row.message_id}


def test_the_call_is_signed_with_the_projects_webhook_secret(project, receiver):
    rows = custom(project, receiver.url)

    send_many(rows)

    request = receiver.received[0]
    timestamp = request.headers["X-Engage-Timestamp"]
    digest = hmac.new(
        project_secret(project.id).encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["X-Engage-Signature"] == f"v1={digest}"


def test_at_most_fifty_endpoints_go_in_one_call(project, receiver):
    rows = custom(project, receiver.url, count=120)

    outcomes = send_many(rows)

    assert [len(r.json()["Endpoints"]) for r in receiver.received] == [50, 50, 20]
    assert outcomes == {row.id: row.message_id for row in rows}
    assert len(receiver.connections) == 1


def test_the_outbox_posts_custom_deliveries_in_calls_of_fifty(project, receiver):
    assert FLUSH_EVERY == 50  # one flush of the outbox is one call of Pinpoint's maximum
    rows = custom(project, receiver.url, count=120)

    outcomes = deliveries_send_batch([row.id for row in rows])

    assert [len(r.json()["Endpoints"]) for r in receiver.received] == [50, 50, 20]
    assert {o.status for o in outcomes.values()} == {DeliveryStatus.SENT}
    assert set(Delivery.objects.filter(id__in=[r.id for r in rows]).values_list("status", flat=True)) == {"SENT"}


def test_an_unreachable_custom_uri_leaves_the_batch_queued_for_retry(project):
    rows = custom(project, closed_port(), count=60)

    outcomes = deliveries_send_batch([row.id for row in rows])

    assert {(o.status, o.code) for o in outcomes.values()} == {(DeliveryStatus.QUEUED, None)}
    assert Delivery.objects.filter(id__in=[r.id for r in rows], status=DeliveryStatus.QUEUED).count() == 60


def test_messages_with_different_data_go_in_separate_calls(project, receiver):
    rows = custom(project, receiver.url, count=2, data="a") + custom(project, receiver.url, count=1, data="b")

    send_many(rows)

    assert sorted((r.json()["Data"], len(r.json()["Endpoints"])) for r in receiver.received) == [("a", 2), ("b", 1)]


def test_a_refused_call_fails_its_endpoints_for_good_and_an_outage_is_transient(project, receiver):
    receiver.answer((400, {}, b"bad payload"), (503, {}, b"later"))
    rows = custom(project, receiver.url, count=2)

    refused = send_many(rows)
    outage = send_many(rows)

    assert {(e.permanent, e.code) for e in refused.values()} == {(True, 400)}
    assert {(e.permanent, e.code) for e in outage.values()} == {(False, 503)}


def test_send_raises_the_error_of_its_call(project, settings):
    row = custom(project, closed_port())[0]

    with pytest.raises(DeliveryError) as failure:
        transport = CustomTransport()
        try:
            transport.send(row)
        finally:
            transport.close()

    assert (failure.value.permanent, failure.value.code) == (False, None)


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("arn:aws:lambda:us-east-1:123456789012:function:deliver", "Lambda"),
        ("http://example.com/hook", "plain http://"),
        ("", "no DeliveryUri"),
    ],
)
def test_unusable_delivery_uris_fail_permanently_without_a_request(project, uri, says):
    rows = custom(project, uri)

    outcome = send_many(rows)[rows[0].id]

    assert outcome.permanent
    assert says in outcome.message


def test_head_check_passes_when_the_account_header_matches(receiver, settings):
    settings.ENGAGE_ACCOUNT_ID = "123456789012"
    receiver.answer((200, {"X-Amz-Pinpoint-AccountId": "123456789012"}, b""))

    custom_uri_check(receiver.url + "/hook")

    assert (receiver.received[0].method, receiver.received[0].path) == ("HEAD", "/hook")


@pytest.mark.parametrize("headers", [{}, {"X-Amz-Pinpoint-AccountId": "999999999999"}])
def test_head_check_fails_without_the_right_account_header(receiver, settings, headers):
    settings.ENGAGE_ACCOUNT_ID = "123456789012"
    receiver.answer((200, headers, b""))

    with pytest.raises(CustomUriInvalid) as invalid:
        custom_uri_check(receiver.url)

    assert "X-Amz-Pinpoint-AccountId: 123456789012" in str(invalid.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [("arn:aws:lambda:us-east-1:1:function:f", "Lambda"), ("http://example.com/", "plain http://")],
)
def test_head_check_refuses_lambda_and_plain_http(url, says):
    with pytest.raises(CustomUriInvalid) as invalid:
        custom_uri_check(url)

    assert says in str(invalid.value)


def test_head_check_of_an_unreachable_url_fails():
    with pytest.raises(CustomUriInvalid) as invalid:
        custom_uri_check(closed_port())

    assert "cannot be reached" in str(invalid.value)
