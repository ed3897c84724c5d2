"""Push transports against real HTTP/2 servers on loopback (hypercorn over TLS) playing FCM, Google's
OAuth token endpoint and APNs: what arrives on the wire, tokens verified with the test keys, error
mapping, token caching."""

import json
import socket
import uuid
from datetime import timedelta
from urllib.parse import parse_qs

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils import timezone

from campaigns.channels import channel_update
from campaigns.deliveries import deliveries_send_batch
from campaigns.models import ChannelKind, Delivery, DeliveryStatus
from campaigns.transports import TRANSPORTS, DeliveryError
from campaigns.transports import apns as apns_module
from campaigns.transports import fcm as fcm_module
from campaigns.transports.apns import ApnsSandboxTransport, ApnsTransport, ApnsVoipTransport
from campaigns.transports.fcm import FcmTransport
from tests.campaigns.push_servers import LoopbackAuthority, ProviderServer

DEVICE = "a1b2c3d4" * 8
FCM_TOKEN = "fcm-registration-token:APA91b"
TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"


def _pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def google_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def apple_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(autouse=True)
def _fresh_token_caches():
    fcm_module.tokens._tokens.clear()
    apns_module.provider_tokens._tokens.clear()


@pytest.fixture
def authority(tmp_path):
    return LoopbackAuthority(tmp_path)


@pytest.fixture
def provider(authority, settings):
    """One HTTP/2 TLS server on loopback, and Engage's push settings pointing at it."""
    server = ProviderServer(authority).start()
    settings.ENGAGE_FCM_URL = server.url
    settings.ENGAGE_APNS_URL = server.url
    settings.ENGAGE_APNS_SANDBOX_URL = server.url
    settings.ENGAGE_PUSH_CA_BUNDLE = str(authority.ca_path)
    yield server
    server.stop()


@pytest.fixture
def service_account(provider, google_key):
    return {
        "type": "service_account",
        "project_id": "engage-demo",
        "private_key_id": "kid-1",
        "private_key": _pem(google_key),
        "client_email": "push@engage-demo.iam.gserviceaccount.com",
        "token_uri": f"{provider.url}/token",
    }


@pytest.fixture
def gcm_channel(project, service_account):
    return channel_update(project, "GCM", {"ServiceJson": json.dumps(service_account)}, by="t")


def apns_settings(apple_key, **extra) -> dict:
    return {
        "BundleId": "com.example.app",
        "TeamId": TEAM_ID,
        "TokenKeyId": KEY_ID,
        "TokenKey": _pem(apple_key),
        **extra,
    }


@pytest.fixture
def apns_channel(project, apple_key):
    return channel_update(project, "APNS", apns_settings(apple_key), by="t")


def google_answers(provider, *, token: str = "ya29.first", expires_in: int = 3600, fcm=None) -> None:
    provider.routes["/token"] = lambda r: (
        200,
        {},
        {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"},
    )
    provider.routes["/v1/projects/"] = fcm or (
        lambda r: (200, {}, {"name": f"projects/engage-demo/messages/{len(provider.requests_to('/v1/'))}"})
    )


def apple_answers(provider, reply=None) -> None:
    provider.routes["/3/device/"] = reply or (lambda r: (200, {"apns-id": r.headers["apns-id"]}, b""))


def push_delivery(project, channel: str = "GCM", address: str = FCM_TOKEN, **payload) -> Delivery:
    now = timezone.now()
    return Delivery.objects.create(
        project=project,
        channel=channel,
        address=address,
        payload=payload,
        message_id=f"<{uuid.uuid4().hex}@push.engage>",
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def send(transport, delivery: Delivery) -> str:
    try:
        return transport.send(delivery)
    finally:
        transport.close()


# --- FCM HTTP v1 ------------------------------------------------------------------------------------


def test_fcm_sends_over_http2_with_an_access_token_from_the_service_account(
    provider, gcm_channel, project, google_key, service_account
):
    google_answers(provider)
    delivery = push_delivery(
        project, Title="Sale", Body="50% off", Action="DEEP_LINK", Url="app://sale", Data={"sku": "42"}, Priority="high"
    )

    name = send(FcmTransport(), delivery)

    token_request, fcm_request = provider.received
    assert token_request.http_version == "2" and token_request.path == "/token"
    form = {k: v[0] for k, v in parse_qs(token_request.body.decode()).items()}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        form["assertion"], google_key.public_key(), algorithms=["RS256"], audience=f"{provider.url}/token"
    )
    assert claims["iss"] == service_account["client_email"]
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert jwt.get_unverified_header(form["assertion"])["kid"] == "kid-1"
    assert fcm_request.http_version == "2"
    assert fcm_request.method == "POST" and fcm_request.path == "/v1/projects/engage-demo/messages:send"
    assert fcm_request.headers["authorization"] == "Bearer ya29.first"
    assert fcm_request.json() == {
        "message": {
            "token": FCM_TOKEN,
            "data": {
                "pinpoint.notification.title": "Sale",
                "pinpoint.notification.body": "50% off",
                "pinpoint.deeplink": "app://sale",
                "pinpoint.jsonBody": '{"sku": "42"}',
            },
            "android": {"priority": "HIGH"},
        }
    }
    assert name == "projects/engage-demo/messages/1"


def test_fcm_access_token_is_reused_until_five_minutes_before_it_expires(provider, gcm_channel, project):
    google_answers(provider, expires_in=3600)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        send(FcmTransport(), push_delivery(project, Body="one"))
        send(FcmTransport(), push_delivery(project, Body="two"))
        clock.shift(timedelta(minutes=54))
        send(FcmTransport(), push_delivery(project, Body="three"))
        clock.shift(timedelta(minutes=2))
        send(FcmTransport(), push_delivery(project, Body="four"))

    assert [r.path for r in provider.received].count("/token") == 2
    assert len(provider.requests_to("/v1/")) == 4


def test_fcm_silent_push_ttl_and_open_app(provider, gcm_channel, project):
    google_answers(provider)

    send(FcmTransport(), push_delivery(project, SilentPush=True, TimeToLive=600, Priority="5"))

    message = provider.requests_to("/v1/")[0].json()["message"]
    assert message["data"] == {"pinpoint.notification.silentPush": "1", "pinpoint.openApp": "true"}
    assert message["android"] == {"priority": "NORMAL", "ttl": "600s"}


def test_fcm_raw_content_in_v1_format_is_sent_to_this_device_only(provider, gcm_channel, project):
    google_answers(provider)
    raw = {"fcmV1Message": {"message": {"topic": "everyone", "notification": {"title": "Raw"}, "data": {"k": "v"}}}}

    send(FcmTransport(), push_delivery(project, RawContent=json.dumps(raw), Title="ignored"))

    assert provider.requests_to("/v1/")[0].json() == {
        "message": {"notification": {"title": "Raw"}, "data": {"k": "v"}, "token": FCM_TOKEN}
    }


def test_fcm_raw_content_in_the_legacy_format_is_translated(provider, gcm_channel, project):
    google_answers(provider)
    raw = {
        "data": {"n": 3, "s": "x"},
        "notification": {"title": "T", "body": "B", "icon": "ic"},
        "priority": "high",
        "time_to_live": 60,
        "collapse_key": "deals",
    }

    send(FcmTransport(), push_delivery(project, RawContent=json.dumps(raw)))

    assert provider.requests_to("/v1/")[0].json()["message"] == {
        "data": {"n": "3", "s": "x"},
        "notification": {"title": "T", "body": "B"},
        "android": {"notification": {"icon": "ic"}, "priority": "HIGH", "ttl": "60s", "collapse_key": "deals"},
        "token": FCM_TOKEN,
    }


def test_fcm_raw_content_that_is_not_json_fails_permanently_without_a_request(provider, gcm_channel, project):
    google_answers(provider)

    with pytest.raises(DeliveryError) as failure:
        send(FcmTransport(), push_delivery(project, RawContent="{not json"))

    assert failure.value.permanent and "RawContent" in failure.value.message
    assert provider.requests_to("/v1/") == []


def test_fcm_unregistered_token_ends_the_delivery(provider, gcm_channel, project):
    error = {
        "error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}],
        }
    }
    google_answers(provider, fcm=lambda r: (404, {}, error))
    delivery = push_delivery(project, Body="hi")

    outcomes = deliveries_send_batch([delivery.id])

    delivery.refresh_from_db()
    assert outcomes[delivery.id].status == DeliveryStatus.FAILED_PERMANENT
    assert delivery.status == DeliveryStatus.FAILED_PERMANENT
    assert "UNREGISTERED" in delivery.last_error and "404" in delivery.last_error


def test_fcm_invalid_argument_is_permanent(provider, gcm_channel, project):
    error = {"error": {"code": 400, "message": "bad token", "status": "INVALID_ARGUMENT"}}
    google_answers(provider, fcm=lambda r: (400, {}, error))

    with pytest.raises(DeliveryError) as failure:
        send(FcmTransport(), push_delivery(project, Body="hi"))

    assert failure.value.permanent and failure.value.code == 400
    assert "INVALID_ARGUMENT" in failure.value.message


@pytest.mark.parametrize(("status", "code"), [(429, "QUOTA_EXCEEDED"), (500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_fcm_overload_and_outages_are_retried_later(provider, gcm_channel, project, status, code):
    error = {"error": {"code": status, "message": "try later", "status": code}}
    google_answers(provider, fcm=lambda r: (status, {"retry-after": "30"}, error))
    delivery = push_delivery(project, Body="hi")

    outcomes = deliveries_send_batch([delivery.id])

    delivery.refresh_from_db()
    assert outcomes[delivery.id].status == DeliveryStatus.QUEUED
    assert delivery.status == DeliveryStatus.QUEUED and delivery.next_attempt_at > timezone.now()
    assert code in delivery.last_error and "Retry-After: 30 s" in delivery.last_error


def test_fcm_401_fetches_a_fresh_token_once(provider, gcm_channel, project):
    tokens = iter(["ya29.stale", "ya29.fresh"])
    google_answers(provider)
    provider.routes["/token"] = lambda r: (200, {}, {"access_token": next(tokens), "expires_in": 3600})
    provider.routes["/v1/projects/"] = lambda r: (
        (200, {}, {"name": "projects/engage-demo/messages/9"})
        if r.headers["authorization"] == "Bearer ya29.fresh"
        else (401, {}, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "expired"}})
    )

    name = send(FcmTransport(), push_delivery(project, Body="hi"))

    assert name == "projects/engage-demo/messages/9"
    assert [r.headers["authorization"] for r in provider.requests_to("/v1/")] == [
        "Bearer ya29.stale",
        "Bearer ya29.fresh",
    ]


def test_fcm_refused_service_account_is_permanent(provider, gcm_channel, project):
    provider.routes["/token"] = lambda r: (400, {}, {"error": "invalid_grant", "error_description": "Invalid JWT"})

    with pytest.raises(DeliveryError) as failure:
        send(FcmTransport(), push_delivery(project, Body="hi"))

    assert failure.value.permanent and failure.value.code == 400
    assert "invalid_grant" in failure.value.message
    assert provider.requests_to("/v1/") == []


def test_fcm_legacy_server_key_channel_says_google_shut_the_api_down(provider, project):
    channel_update(project, "GCM", {"ApiKey": "AIzaLegacyKey", "DefaultAuthenticationMethod": "KEY"}, by="t")

    with pytest.raises(DeliveryError) as failure:
        send(FcmTransport(), push_delivery(project, Body="hi"))

    assert failure.value.permanent
    assert "shut the legacy FCM API down" in failure.value.message and "ServiceJson" in failure.value.message
    assert provider.received == []


def test_fcm_channel_with_key_and_service_json_uses_the_service_account(provider, project, service_account):
    channel_update(
        project,
        "GCM",
        {"ApiKey": "AIzaLegacyKey", "ServiceJson": json.dumps(service_account), "DefaultAuthenticationMethod": "KEY"},
        by="t",
    )
    google_answers(provider)

    send(FcmTransport(), push_delivery(project, Body="hi", PreferredAuthenticationMethod="KEY"))

    assert len(provider.requests_to("/v1/projects/engage-demo/")) == 1


def test_fcm_unreachable_is_transient_and_has_no_status_code(provider, gcm_channel, project, settings):
    google_answers(provider)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        settings.ENGAGE_FCM_URL = f"https://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens there

    with pytest.raises(DeliveryError) as failure:
        send(FcmTransport(), push_delivery(project, Body="hi"))

    assert not failure.value.permanent and failure.value.code is None


def test_disabled_push_channel_fails_permanently(provider, project, service_account):
    channel_update(project, "GCM", {"ServiceJson": json.dumps(service_account), "Enabled": False}, by="t")

    with pytest.raises(DeliveryError) as failure:
        send(FcmTransport(), push_delivery(project, Body="hi"))

    assert failure.value.permanent and "disabled" in failure.value.message
    assert provider.received == []


# --- APNs -------------------------------------------------------------------------------------------


def test_apns_token_auth_sends_http2_with_an_es256_provider_token(provider, apns_channel, project, apple_key):
    apple_answers(provider)
    delivery = push_delivery(
        project,
        "APNS",
        DEVICE,
        Title="Sale",
        Body="50% off",
        Sound="default",
        Badge=3,
        Category="DEALS",
        ThreadId="t-1",
        Action="URL",
        Url="https://example.com/sale",
        Data={"sku": "42"},
        TimeToLive=3600,
    )

    with time_machine.travel(timezone.now(), tick=False):
        now = int(timezone.now().timestamp())
        apns_id = send(ApnsTransport(), delivery)

    (request,) = provider.received
    assert request.http_version == "2"
    assert request.method == "POST" and request.path == f"/3/device/{DEVICE}"
    scheme, token = request.headers["authorization"].split(" ")
    assert scheme == "bearer"
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    claims = jwt.decode(token, apple_key.public_key(), algorithms=["ES256"])
    assert claims == {"iss": TEAM_ID, "iat": now}
    assert request.headers["apns-topic"] == "com.example.app"
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-priority"] == "10"
    assert request.headers["apns-expiration"] == str(now + 3600)
    assert request.headers["apns-id"] == apns_id == str(uuid.UUID(request.headers["apns-id"]))
    assert request.json() == {
        "aps": {
            "alert": {"title": "Sale", "body": "50% off"},
            "sound": "default",
            "badge": 3,
            "category": "DEALS",
            "thread-id": "t-1",
        },
        "sku": "42",
        "data": {"pinpoint": {"deeplink": "https://example.com/sale"}},
    }


def test_apns_retry_of_a_delivery_carries_the_same_apns_id(provider, apns_channel, project):
    apple_answers(provider)
    delivery = push_delivery(project, "APNS", DEVICE, Body="hi")

    send(ApnsTransport(), delivery)
    send(ApnsTransport(), delivery)
    send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="hi"))

    ids = [r.headers["apns-id"] for r in provider.received]
    assert ids[0] == ids[1] != ids[2]


def test_apns_provider_token_is_reused_for_50_minutes(provider, apns_channel, project):
    apple_answers(provider)

    with time_machine.travel(timezone.now(), tick=False) as clock:
        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="one"))
        clock.shift(timedelta(minutes=49))
        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="two"))
        clock.shift(timedelta(minutes=2))
        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="three"))

    first, second, third = (r.headers["authorization"] for r in provider.received)
    assert first == second != third


def test_apns_silent_push_is_a_background_push_at_priority_5(provider, apns_channel, project):
    apple_answers(provider)

    send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, SilentPush=True, Title="unseen", Data={"sync": "1"}))

    (request,) = provider.received
    assert request.headers["apns-push-type"] == "background"
    assert request.headers["apns-priority"] == "5"
    assert request.json() == {"aps": {"content-available": 1}, "sync": "1"}


def test_apns_raw_content_is_sent_as_is(provider, apns_channel, project):
    apple_answers(provider)
    raw = {"aps": {"alert": "Raw", "content-available": 0}, "custom": {"deep": [1, 2]}}

    send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, RawContent=json.dumps(raw), Title="ignored"))

    (request,) = provider.received
    assert request.json() == raw
    assert request.headers["apns-push-type"] == "alert"


def test_apns_numbers_sent_as_strings_are_read(provider, apns_channel, project):
    apple_answers(provider)

    send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="hi", Badge="2", TimeToLive="0"))

    (request,) = provider.received
    assert request.json()["aps"]["badge"] == 2
    assert request.headers["apns-expiration"] == "0"


def test_apns_badge_that_is_not_a_number_fails_permanently(provider, apns_channel, project):
    with pytest.raises(DeliveryError) as failure:
        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="hi", Badge="many"))

    assert failure.value.permanent and "Badge" in failure.value.message
    assert provider.received == []


@pytest.mark.parametrize("transport", [ApnsTransport, FcmTransport])
def test_push_data_that_is_not_a_map_fails_permanently(provider, apns_channel, gcm_channel, project, transport):
    channel, address = ("APNS", DEVICE) if transport is ApnsTransport else ("GCM", FCM_TOKEN)
    google_answers(provider)

    with pytest.raises(DeliveryError) as failure:
        send(transport(), push_delivery(project, channel, address, Body="hi", Data="sku=42"))

    assert failure.value.permanent and "Data must be a map" in failure.value.message
    assert provider.requests_to("/3/") == provider.requests_to("/v1/") == []


def test_apns_voip_channel_uses_the_voip_topic_and_push_type(provider, project, apple_key):
    channel_update(project, "APNS_VOIP", apns_settings(apple_key), by="t")
    apple_answers(provider)

    send(ApnsVoipTransport(), push_delivery(project, "APNS_VOIP", DEVICE, Body="call"))

    (request,) = provider.received
    assert request.headers["apns-topic"] == "com.example.app.voip"
    assert request.headers["apns-push-type"] == "voip"


def test_apns_sandbox_channel_uses_the_sandbox_host(provider, project, apple_key, settings):
    channel_update(project, "APNS_SANDBOX", apns_settings(apple_key), by="t")
    apple_answers(provider)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        settings.ENGAGE_APNS_URL = f"https://127.0.0.1:{probe.getsockname()[1]}"  # production: nobody there

    send(ApnsSandboxTransport(), push_delivery(project, "APNS_SANDBOX", DEVICE, Body="dev build"))

    assert len(provider.received) == 1


@pytest.mark.parametrize(
    ("status", "reason"), [(400, "BadDeviceToken"), (410, "Unregistered"), (400, "DeviceTokenNotForTopic")]
)
def test_apns_dead_device_tokens_end_the_delivery(provider, apns_channel, project, status, reason):
    apple_answers(provider, lambda r: (status, {"apns-id": r.headers["apns-id"]}, {"reason": reason}))
    delivery = push_delivery(project, "APNS", DEVICE, Body="hi")

    outcomes = deliveries_send_batch([delivery.id])

    delivery.refresh_from_db()
    assert outcomes[delivery.id].status == DeliveryStatus.FAILED_PERMANENT
    assert delivery.status == DeliveryStatus.FAILED_PERMANENT and reason in delivery.last_error


@pytest.mark.parametrize(
    ("status", "reason"), [(429, "TooManyRequests"), (500, "InternalServerError"), (503, "ServiceUnavailable")]
)
def test_apns_overload_and_outages_are_retried_later(provider, apns_channel, project, status, reason):
    apple_answers(provider, lambda r: (status, {}, {"reason": reason}))
    delivery = push_delivery(project, "APNS", DEVICE, Body="hi")

    outcomes = deliveries_send_batch([delivery.id])

    delivery.refresh_from_db()
    assert outcomes[delivery.id].status == DeliveryStatus.QUEUED
    assert delivery.status == DeliveryStatus.QUEUED and reason in delivery.last_error


def test_apns_expired_provider_token_is_renewed_once(provider, apns_channel, project):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        apple_answers(provider)
        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="one"))
        old = provider.received[0].headers["authorization"]
        apple_answers(
            provider,
            lambda r: (
                (403, {}, {"reason": "ExpiredProviderToken"}) if r.headers["authorization"] == old else (200, {}, b"")
            ),
        )
        clock.shift(timedelta(minutes=30))

        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="two"))

    assert [r.headers["authorization"] == old for r in provider.received] == [True, True, False]


def test_apns_invalid_provider_token_is_permanent(provider, apns_channel, project):
    apple_answers(provider, lambda r: (403, {}, {"reason": "InvalidProviderToken"}))

    with pytest.raises(DeliveryError) as failure:
        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="hi"))

    assert failure.value.permanent and failure.value.code == 403 and "InvalidProviderToken" in failure.value.message
    assert len(provider.received) == 1


def test_apns_token_key_that_cannot_sign_es256_fails_permanently(provider, project, google_key):
    channel_update(project, "APNS", {**apns_settings(google_key)}, by="t")  # an RSA key, not Apple's P-256

    with pytest.raises(DeliveryError) as failure:
        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="hi"))

    assert failure.value.permanent and "TokenKey cannot sign" in failure.value.message
    assert provider.received == []


def test_apns_device_token_that_is_not_hex_is_refused_without_a_request(provider, apns_channel, project):
    with pytest.raises(DeliveryError) as failure:
        send(ApnsTransport(), push_delivery(project, "APNS", "../../v1/other", Body="hi"))

    assert failure.value.permanent and "BadDeviceToken" in failure.value.message
    assert provider.received == []


def test_apns_certificate_auth_presents_the_client_certificate(authority, settings, project):
    server = ProviderServer(authority, require_client_certificate=True).start()
    try:
        settings.ENGAGE_APNS_URL = server.url
        settings.ENGAGE_PUSH_CA_BUNDLE = str(authority.ca_path)
        certificate, key = authority.client_certificate("Apple Push Services: com.example.app")
        channel_update(
            project, "APNS", {"Certificate": certificate, "PrivateKey": key, "BundleId": "com.example.app"}, by="t"
        )
        apple_answers(server)

        send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="hi"))
    finally:
        server.stop()

    (request,) = server.received
    assert request.http_version == "2" and "authorization" not in request.headers
    assert request.headers["apns-topic"] == "com.example.app"


def test_apns_certificate_unknown_to_the_server_fails_the_handshake(authority, settings, project, tmp_path):
    server = ProviderServer(authority, require_client_certificate=True).start()
    try:
        settings.ENGAGE_APNS_URL = server.url
        settings.ENGAGE_PUSH_CA_BUNDLE = str(authority.ca_path)
        (tmp_path / "other").mkdir()
        stranger = LoopbackAuthority(tmp_path / "other")
        certificate, key = stranger.client_certificate("someone else")
        channel_update(project, "APNS", {"Certificate": certificate, "PrivateKey": key}, by="t")

        with pytest.raises(DeliveryError) as failure:
            send(ApnsTransport(), push_delivery(project, "APNS", DEVICE, Body="hi"))
    finally:
        server.stop()

    assert not failure.value.permanent and server.received == []


def test_adm_and_baidu_have_no_transport():
    assert ChannelKind.ADM not in TRANSPORTS and ChannelKind.BAIDU not in TRANSPORTS
    assert {ChannelKind.GCM, ChannelKind.APNS, ChannelKind.APNS_SANDBOX, ChannelKind.APNS_VOIP} <= set(TRANSPORTS)


# --- SendMessages end to end (boto3 → Engage → loopback providers) ----------------------------------


def test_send_messages_gcm_message_reaches_fcm(pinpoint, project, provider, service_account):
    pinpoint.update_gcm_channel(
        ApplicationId=project.id, GCMChannelRequest={"Enabled": True, "ServiceJson": json.dumps(service_account)}
    )
    google_answers(provider)

    response = pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={
            "Addresses": {FCM_TOKEN: {"ChannelType": "GCM", "Substitutions": {"Name": ["Ann"]}}},
            "Context": {"campaign": "spring"},
            "MessageConfiguration": {
                "GCMMessage": {
                    "Title": "Hi {{Name}}",
                    "Body": "Spring sale",
                    "Action": "URL",
                    "Url": "https://example.com/spring",
                    "Data": {"sku": "42"},
                    "TimeToLive": 120,
                }
            },
        },
    )["MessageResponse"]

    result = response["Result"][FCM_TOKEN]
    message = provider.requests_to("/v1/")[0].json()["message"]
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("SUCCESSFUL", 200)
    assert message == {
        "token": FCM_TOKEN,
        "data": {
            "pinpoint.notification.title": "Hi Ann",
            "pinpoint.notification.body": "Spring sale",
            "pinpoint.url": "https://example.com/spring",
            "pinpoint.jsonBody": '{"sku": "42"}',
            "pinpoint.campaign": "spring",
        },
        "android": {"ttl": "120s"},
    }
    assert Delivery.objects.get().provider_message_id == "projects/engage-demo/messages/1"


def test_send_messages_apns_message_to_an_endpoint_reaches_apns(pinpoint, project, provider, apple_key):
    pinpoint.update_apns_channel(
        ApplicationId=project.id, APNSChannelRequest={"Enabled": True, **apns_settings(apple_key)}
    )
    pinpoint.update_endpoint(
        ApplicationId=project.id,
        EndpointId="phone-1",
        EndpointRequest={"ChannelType": "APNS", "Address": DEVICE, "Attributes": {"Plan": ["gold"]}},
    )
    apple_answers(provider)

    response = pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={
            "Endpoints": {"phone-1": {}},
            "MessageConfiguration": {
                "APNSMessage": {"Title": "Your {{Attributes.Plan}} plan", "Body": "renews", "Badge": 1, "Sound": "ping"}
            },
        },
    )["MessageResponse"]

    result = response["EndpointResult"]["phone-1"]
    (request,) = provider.received
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("SUCCESSFUL", 200)
    assert request.http_version == "2" and request.path == f"/3/device/{DEVICE}"
    assert request.json() == {
        "aps": {"alert": {"title": "Your gold plan", "body": "renews"}, "sound": "ping", "badge": 1}
    }
    assert str(uuid.UUID(hex=result["MessageId"])) == request.headers["apns-id"]


def test_send_messages_to_an_unregistered_apns_token_is_a_permanent_failure(pinpoint, project, provider, apple_key):
    pinpoint.update_apns_channel(
        ApplicationId=project.id, APNSChannelRequest={"Enabled": True, **apns_settings(apple_key)}
    )
    apple_answers(provider, lambda r: (410, {}, {"reason": "Unregistered", "timestamp": 1700000000000}))

    response = pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={
            "Addresses": {DEVICE: {"ChannelType": "APNS"}},
            "MessageConfiguration": {"APNSMessage": {"Body": "hello"}},
        },
    )["MessageResponse"]

    result = response["Result"][DEVICE]
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("PERMANENT_FAILURE", 410)
    assert "Unregistered" in result["StatusMessage"]
