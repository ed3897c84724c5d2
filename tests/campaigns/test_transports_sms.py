"""SMS and voice transports against a real HTTP server on loopback playing Twilio or a webhook."""

import base64
import hashlib
import hmac
import threading

import pytest

from campaigns.channels import channel_update
from campaigns.deliveries import OutgoingMessage, deliveries_create, deliveries_send_batch
from campaigns.models import DeliveryStatus
from campaigns.transports import DeliveryError
from campaigns.transports.phone import SmsTransport, VoiceTransport, say_twiml
from tests.campaigns.provider_server import ProviderServer, closed_port

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-1234"
SECRET = "a-webhook-secret-of-enough-length"


@pytest.fixture
def provider():
    server = ProviderServer()
    yield server
    server.stop()


@pytest.fixture
def twilio(provider, settings):
    settings.ENGAGE_TWILIO_API_URL = provider.url
    provider.answer((201, {"Content-Type": "application/json"}, {"sid": "SM0001", "status": "queued"}))
    return provider


def sms_channel(project, **members):
    return channel_update(project, "SMS", {"ShortCode": "+15005550006", **members}, by="test", extensions=True)


def twilio_sms(project):
    return sms_channel(project, Provider="TWILIO", TwilioAccountSid=SID, TwilioAuthToken=TOKEN)


def delivery(project, channel="SMS", address="+4915112345678", **payload):
    return deliveries_create(
        project,
        [OutgoingMessage(channel=channel, address=address, payload={"Body": "Your code is 1234", **payload})],
        enqueue=False,
    )[0]


def send(transport_class, row):
    transport = transport_class()
    try:
        return transport.send(row)
    finally:
        transport.close()


def test_twilio_sms_posts_the_form_with_basic_auth_and_returns_the_sid(project, twilio):
    twilio_sms(project)

    provider_id = send(SmsTransport, delivery(project))

    assert provider_id == "SM0001"
    request = twilio.received[0]
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")
    assert request.form() == {"To": "+4915112345678", "From": "+15005550006", "Body": "Your code is 1234"}
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def test_the_messages_origination_number_wins_over_the_channels_short_code(project, twilio):
    twilio_sms(project)

    send(SmsTransport, delivery(project, OriginationNumber="+15005550001"))

    assert twilio.received[0].form()["From"] == "+15005550001"


def test_an_invalid_number_is_a_permanent_failure_with_twilios_code(project, twilio):
    twilio_sms(project)
    twilio.answer((400, {}, {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}))

    with pytest.raises(DeliveryError) as failure:
        send(SmsTransport, delivery(project))

    assert failure.value.permanent
    assert failure.value.code == 400
    assert "21211 The 'To' number is not a valid phone number." in failure.value.message


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_transient(project, twilio, status):
    twilio_sms(project)
    twilio.answer((status, {}, {"code": 20429, "message": "Too Many Requests"}))

    with pytest.raises(DeliveryError) as failure:
        send(SmsTransport, delivery(project))

    assert not failure.value.permanent
    assert failure.value.code == status


def test_an_unreachable_provider_is_transient_without_a_code(project, settings):
    settings.ENGAGE_TWILIO_API_URL = closed_port()
    twilio_sms(project)

    with pytest.raises(DeliveryError) as failure:
        send(SmsTransport, delivery(project))

    assert not failure.value.permanent
    assert failure.value.code is None
    assert "cannot be reached" in failure.value.message


def test_a_provider_that_does_not_answer_in_time_is_transient(project, twilio, settings):
    settings.ENGAGE_PROVIDER_TIMEOUT = 0.3
    twilio_sms(project)
    twilio.hold = threading.Event()

    with pytest.raises(DeliveryError) as failure:
        send(SmsTransport, delivery(project))

    assert not failure.value.permanent
    assert "did not answer in time" in failure.value.message


def test_one_batch_uses_one_keep_alive_connection(project, twilio):
    twilio_sms(project)
    rows = [delivery(project, address=f"+491511234567{i}") for i in range(3)]

    transport = SmsTransport()
    try:
        ids = [transport.send(row) for row in rows]
    finally:
        transport.close()

    assert ids == ["SM0001"] * 3
    assert len(twilio.received) == 3
    assert len(twilio.connections) == 1


def test_without_any_provider_sms_fails_permanently_saying_so(project, settings):
    settings.ENGAGE_SMS_PROVIDER = ""
    sms_channel(project)

    with pytest.raises(DeliveryError) as failure:
        send(SmsTransport, delivery(project))

    assert failure.value.permanent
    assert failure.value.message.startswith("no SMS provider configured:")


def test_a_channel_without_a_provider_uses_the_servers(project, twilio, settings):
    settings.ENGAGE_SMS_PROVIDER = "TWILIO"
    settings.ENGAGE_TWILIO_ACCOUNT_SID = SID
    settings.ENGAGE_TWILIO_AUTH_TOKEN = "server-token"
    settings.ENGAGE_TWILIO_FROM = "+15005550009"

    send(SmsTransport, delivery(project))  # no channel row at all

    request = twilio.received[0]
    assert request.form()["From"] == "+15005550009"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID}:server-token".encode()).decode()


def test_the_channels_provider_wins_over_the_servers(project, twilio, settings):
    settings.ENGAGE_SMS_PROVIDER = "WEBHOOK"
    settings.ENGAGE_SMS_WEBHOOK_URL = closed_port()
    settings.ENGAGE_SMS_WEBHOOK_SECRET = SECRET
    twilio_sms(project)

    assert send(SmsTransport, delivery(project)) == "SM0001"


def test_webhook_provider_posts_signed_json_a_receiver_can_verify(project, provider):
    sms_channel(project, Provider="WEBHOOK", WebhookUrl=provider.url + "/sms", WebhookSecret=SECRET)
    provider.answer((202, {}, {"MessageId": "gw-77"}))
    row = delivery(project, MessageType="TRANSACTIONAL", SenderId="Engage")

    provider_id = send(SmsTransport, row)

    assert provider_id == "gw-77"
    request = provider.received[0]
    timestamp = request.headers["X-Engage-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Engage-Signature"], f"v1={expected}")
    assert request.headers["X-Engage-Message-Id"] == row.message_id
    assert request.json() == {
        "Channel": "SMS",
        "MessageId": row.message_id,
        "ApplicationId": project.id,
        "To": "+4915112345678",
        "From": "Engage",
        "EndpointId": "",
        "UserId": "",
        "Message": {"Body": "Your code is 1234", "MessageType": "TRANSACTIONAL", "SenderId": "Engage"},
    }


def test_a_signature_made_with_another_secret_does_not_verify(project, provider):
    sms_channel(project, Provider="WEBHOOK", WebhookUrl=provider.url, WebhookSecret=SECRET)

    send(SmsTransport, delivery(project))

    request = provider.received[0]
    timestamp = request.headers["X-Engage-Timestamp"]
    forged = hmac.new(b"another-secret", timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Engage-Signature"] != f"v1={forged}"


def test_webhook_refusal_is_permanent_and_its_outage_transient(project, provider):
    sms_channel(project, Provider="WEBHOOK", WebhookUrl=provider.url, WebhookSecret=SECRET)
    provider.answer((422, {}, b"unknown number"), (502, {}, b"bad gateway"))

    with pytest.raises(DeliveryError) as refused:
        send(SmsTransport, delivery(project))
    with pytest.raises(DeliveryError) as outage:
        send(SmsTransport, delivery(project))

    assert (refused.value.permanent, refused.value.code) == (True, 422)
    assert "unknown number" in refused.value.message
    assert (outage.value.permanent, outage.value.code) == (False, 502)


def test_a_transient_failure_is_retried_by_the_outbox_with_the_same_message_id(project, provider):
    sms_channel(project, Provider="WEBHOOK", WebhookUrl=provider.url, WebhookSecret=SECRET)
    provider.answer((503, {}, b"busy"), (200, {}, {"MessageId": "gw-1"}))
    row = delivery(project)

    first = deliveries_send_batch([row.id])
    row.refresh_from_db()
    second = deliveries_send_batch([row.id], now=row.next_attempt_at)
    row.refresh_from_db()

    assert first[row.id].status == DeliveryStatus.QUEUED
    assert second[row.id].status == DeliveryStatus.SENT
    assert (row.status, row.provider_message_id, row.attempts) == (DeliveryStatus.SENT, "gw-1", 2)
    ids = {request.headers["X-Engage-Message-Id"] for request in provider.received}
    assert ids == {row.message_id}


def test_twilio_voice_places_a_call_that_says_the_body(project, twilio):
    channel_update(
        project,
        "VOICE",
        {"Provider": "TWILIO", "TwilioAccountSid": SID, "TwilioAuthToken": TOKEN, "OriginationNumber": "+15005550006"},
        by="test",
        extensions=True,
    )
    twilio.answer((201, {}, {"sid": "CA0001"}))
    row = delivery(project, channel="VOICE", Body="Your code is 1 2 3 & 4", VoiceId="Joanna", LanguageCode="en-US")

    assert send(VoiceTransport, row) == "CA0001"

    request = twilio.received[0]
    assert request.path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    assert request.form() == {
        "To": "+4915112345678",
        "From": "+15005550006",
        "Twiml": '<Response><Say voice="Polly.Joanna" language="en-US">Your code is 1 2 3 &amp; 4</Say></Response>',
    }


def test_ssml_bodies_keep_their_markup_inside_say():
    twiml = say_twiml('<speak>Hello <break time="1s"/> <emphasis>you</emphasis>.</speak>')

    assert twiml == '<Response><Say>Hello <break time="1s" /> <emphasis>you</emphasis>.</Say></Response>'


@pytest.mark.parametrize("body", ["<speak>unclosed", '<!DOCTYPE x [<!ENTITY a "b">]><speak>&a;</speak>'])
def test_malformed_or_entity_ssml_fails_permanently(body):
    with pytest.raises(DeliveryError) as failure:
        say_twiml(body)

    assert failure.value.permanent


def test_voice_without_a_calling_number_fails_permanently(project, twilio):
    channel_update(
        project,
        "VOICE",
        {"Provider": "TWILIO", "TwilioAccountSid": SID, "TwilioAuthToken": TOKEN},
        by="t",
        extensions=True,
    )

    with pytest.raises(DeliveryError) as failure:
        send(VoiceTransport, delivery(project, channel="VOICE"))

    assert failure.value.permanent
    assert "no number to send from" in failure.value.message
    assert twilio.received == []


def test_an_accepted_sms_without_a_sid_is_sent_and_keeps_our_id(project, twilio):
    twilio_sms(project)
    twilio.answer((201, {}, b"accepted"))
    row = delivery(project)

    outcome = deliveries_send_batch([row.id])[row.id]

    row.refresh_from_db()
    assert outcome.status == DeliveryStatus.SENT
    assert row.provider_message_id == row.message_id
    assert len(twilio.received) == 1
