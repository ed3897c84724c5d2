import gzip
import json
from pathlib import Path

import botocore
import pytest
from botocore.exceptions import ClientError

from campaigns.channels import CHANNELS, ChannelInvalid, SmsChannel, channel_summary, channel_update, channels_list
from campaigns.models import Channel, ChannelKind
from projects.models import Role
from tests.conftest import send_signed
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg-token-key\n-----END PRIVATE KEY-----"
)
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIC-apns-certificate\n-----END CERTIFICATE-----"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIE-apns-private-key\n-----END RSA PRIVATE KEY-----"
SERVICE_JSON = json.dumps(
    {
        "type": "service_account",
        "project_id": "engage-demo",
        "private_key": "-----BEGIN PRIVATE KEY-----\nfcm-service-private-key\n-----END PRIVATE KEY-----\n",
        "client_email": "push@engage-demo.iam.gserviceaccount.com",
    }
)
APNS_KEY_REQUEST = {
    "BundleId": "com.example.app",
    "TeamId": "ABCDE12345",
    "TokenKeyId": "KEY1234567",
    "TokenKey": TOKEN_KEY,
}

# Per kind: the boto3 method suffix, the request member name, a valid request and its secret values.
CASES = {
    ChannelKind.EMAIL: (
        "email_channel",
        "EmailChannelRequest",
        {"FromAddress": "news@example.com", "Identity": "arn:aws:ses:us-east-1:000000000000:identity/example.com"},
        [],
    ),
    ChannelKind.SMS: ("sms_channel", "SMSChannelRequest", {"SenderId": "Engage", "ShortCode": "12345"}, []),
    ChannelKind.VOICE: ("voice_channel", "VoiceChannelRequest", {}, []),
    ChannelKind.GCM: (
        "gcm_channel",
        "GCMChannelRequest",
        {"ServiceJson": SERVICE_JSON, "DefaultAuthenticationMethod": "TOKEN"},
        ["fcm-service-private-key"],
    ),
    ChannelKind.APNS: ("apns_channel", "APNSChannelRequest", APNS_KEY_REQUEST, ["token-key"]),
    ChannelKind.APNS_SANDBOX: (
        "apns_sandbox_channel",
        "APNSSandboxChannelRequest",
        {"Certificate": CERTIFICATE, "PrivateKey": PRIVATE_KEY, "DefaultAuthenticationMethod": "CERTIFICATE"},
        ["apns-certificate", "apns-private-key"],
    ),
    ChannelKind.APNS_VOIP: ("apns_voip_channel", "APNSVoipChannelRequest", APNS_KEY_REQUEST, ["token-key"]),
    ChannelKind.APNS_VOIP_SANDBOX: (
        "apns_voip_sandbox_channel",
        "APNSVoipSandboxChannelRequest",
        APNS_KEY_REQUEST,
        ["token-key"],
    ),
    ChannelKind.ADM: (
        "adm_channel",
        "ADMChannelRequest",
        {"ClientId": "amzn1.application-oa2-client.1", "ClientSecret": "adm-client-secret"},
        ["adm-client-secret"],
    ),
    ChannelKind.BAIDU: (
        "baidu_channel",
        "BaiduChannelRequest",
        {"ApiKey": "baidu-api-key", "SecretKey": "baidu-secret-key"},
        ["baidu-api-key", "baidu-secret-key"],
    ),
}


def _model_shapes() -> dict:
    path = Path(botocore.__file__).parent / "data/pinpoint/2016-12-01/service-2.json.gz"
    return json.load(gzip.open(path))["shapes"]


def _raw_bodies(client) -> list[str]:
    bodies: list[str] = []
    client.meta.events.register("after-call.pinpoint", lambda http_response, **_: bodies.append(http_response.text))
    return bodies


def _response_key(kind) -> str:
    return CASES[kind][1].replace("Request", "Response")


@pytest.mark.parametrize("kind", list(CASES))
def test_every_channel_kind_round_trips_through_boto3(pinpoint, project, kind):
    method, member, request, _ = CASES[kind]
    response_key = _response_key(kind)

    updated = getattr(pinpoint, f"update_{method}")(ApplicationId=project.id, **{member: request})[response_key]
    fetched = getattr(pinpoint, f"get_{method}")(ApplicationId=project.id)[response_key]
    listed = pinpoint.get_channels(ApplicationId=project.id)["ChannelsResponse"]["Channels"]
    deleted = getattr(pinpoint, f"delete_{method}")(ApplicationId=project.id)[response_key]
    with pytest.raises(ClientError) as missing:
        getattr(pinpoint, f"get_{method}")(ApplicationId=project.id)

    assert updated == fetched == deleted
    assert fetched["ApplicationId"] == project.id
    assert fetched["Platform"] == kind
    assert fetched["Id"] == kind.lower()
    assert fetched["Enabled"] is True
    assert fetched["IsArchived"] is False
    assert fetched["Version"] == 1
    assert fetched["LastModifiedBy"] == "alice"
    assert fetched["CreationDate"].endswith("Z")
    assert set(listed) == {kind}
    assert listed[kind]["Version"] == 1
    assert "Platform" not in listed[kind]
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize("kind", list(CASES))
def test_responses_carry_only_members_of_the_model_with_the_required_ones(pinpoint, project, kind):
    method, member, request, _ = CASES[kind]
    shape = _model_shapes()[_response_key(kind)]

    fetched = getattr(pinpoint, f"update_{method}")(ApplicationId=project.id, **{member: request})[_response_key(kind)]

    assert set(fetched) <= set(shape["members"])
    assert set(shape.get("required", [])) <= set(fetched)


def test_kind_specific_response_members(pinpoint, project):
    pinpoint.update_email_channel(ApplicationId=project.id, EmailChannelRequest=CASES[ChannelKind.EMAIL][2])
    pinpoint.update_sms_channel(ApplicationId=project.id, SMSChannelRequest={"SenderId": "Engage"})
    pinpoint.update_gcm_channel(ApplicationId=project.id, GCMChannelRequest={"ServiceJson": SERVICE_JSON})
    pinpoint.update_apns_channel(ApplicationId=project.id, APNSChannelRequest=APNS_KEY_REQUEST)

    email = pinpoint.get_email_channel(ApplicationId=project.id)["EmailChannelResponse"]
    sms = pinpoint.get_sms_channel(ApplicationId=project.id)["SMSChannelResponse"]
    gcm = pinpoint.get_gcm_channel(ApplicationId=project.id)["GCMChannelResponse"]
    apns = pinpoint.get_apns_channel(ApplicationId=project.id)["APNSChannelResponse"]

    assert email["FromAddress"] == "news@example.com"
    assert email["Identity"].startswith("arn:aws:ses:")
    assert email["MessagesPerSecond"] > 0
    assert sms["SenderId"] == "Engage"
    assert sms["PromotionalMessagesPerSecond"] > 0
    assert sms["TransactionalMessagesPerSecond"] > 0
    assert gcm["HasFcmServiceCredentials"] is True
    assert gcm["DefaultAuthenticationMethod"] == "TOKEN"
    assert apns["HasTokenKey"] is True
    assert apns["DefaultAuthenticationMethod"] == "KEY"


def test_get_channels_lists_disabled_channels_too(pinpoint, project):
    pinpoint.update_voice_channel(ApplicationId=project.id, VoiceChannelRequest={"Enabled": False})
    pinpoint.update_sms_channel(ApplicationId=project.id, SMSChannelRequest={"Enabled": True})

    channels = pinpoint.get_channels(ApplicationId=project.id)["ChannelsResponse"]["Channels"]

    assert channels["VOICE"]["Enabled"] is False
    assert channels["SMS"]["Enabled"] is True


def test_get_channels_of_a_fresh_project_is_empty(pinpoint, project):
    channels = pinpoint.get_channels(ApplicationId=project.id)["ChannelsResponse"]["Channels"]

    assert channels == {}


def test_each_update_raises_the_version(pinpoint, project):
    pinpoint.update_sms_channel(ApplicationId=project.id, SMSChannelRequest={"SenderId": "One"})
    pinpoint.update_sms_channel(ApplicationId=project.id, SMSChannelRequest={"SenderId": "Two"})

    third = pinpoint.update_sms_channel(ApplicationId=project.id, SMSChannelRequest={"Enabled": False})

    response = third["SMSChannelResponse"]
    assert response["Version"] == 3
    assert response["Enabled"] is False
    assert response["SenderId"] == "Two"


@pytest.mark.parametrize("kind", [k for k, case in CASES.items() if case[3]])
def test_secrets_never_appear_in_responses_and_are_stored_encrypted(pinpoint, project, kind):
    method, member, request, secrets = CASES[kind]
    bodies = _raw_bodies(pinpoint)

    getattr(pinpoint, f"update_{method}")(ApplicationId=project.id, **{member: request})
    getattr(pinpoint, f"get_{method}")(ApplicationId=project.id)
    pinpoint.get_channels(ApplicationId=project.id)
    row = Channel.objects.get(project=project, kind=kind)
    row_text = json.dumps([row.settings, row.secrets_encrypted, row.last_modified_by])
    getattr(pinpoint, f"delete_{method}")(ApplicationId=project.id)

    assert len(bodies) == 4
    for secret in secrets:
        assert all(secret not in body for body in bodies)
        assert secret not in row_text
    assert row.secrets_encrypted


def test_an_update_without_secrets_keeps_the_stored_ones(pinpoint, project):
    pinpoint.update_apns_channel(ApplicationId=project.id, APNSChannelRequest=APNS_KEY_REQUEST)

    updated = pinpoint.update_apns_channel(ApplicationId=project.id, APNSChannelRequest={"Enabled": False})

    response = updated["APNSChannelResponse"]
    settings = CHANNELS[ChannelKind.APNS].load(Channel.objects.get(project=project, kind=ChannelKind.APNS))
    assert response["HasTokenKey"] is True
    assert response["Enabled"] is False
    assert response["Version"] == 2
    assert settings.TokenKey == TOKEN_KEY
    assert settings.BundleId == "com.example.app"


def test_a_new_secret_replaces_the_stored_one(pinpoint, project):
    pinpoint.update_adm_channel(ApplicationId=project.id, ADMChannelRequest={"ClientId": "c", "ClientSecret": "old"})

    pinpoint.update_adm_channel(ApplicationId=project.id, ADMChannelRequest={"ClientId": "c", "ClientSecret": "new"})

    settings = CHANNELS[ChannelKind.ADM].load(Channel.objects.get(project=project, kind=ChannelKind.ADM))
    assert settings.ClientSecret == "new"


@pytest.mark.parametrize(
    ("method", "member", "request_body", "message"),
    [
        ("email_channel", "EmailChannelRequest", {"FromAddress": "not an address", "Identity": "x"}, "FromAddress"),
        ("email_channel", "EmailChannelRequest", {"FromAddress": "a@example.com", "Identity": ""}, "Identity"),
        ("sms_channel", "SMSChannelRequest", {"SenderId": "far-too-long-sender"}, "SenderId"),
        ("gcm_channel", "GCMChannelRequest", {"ServiceJson": "{not json"}, "ServiceJson"),
        ("gcm_channel", "GCMChannelRequest", {"ServiceJson": '{"type": "service_account"}'}, "project_id"),
        ("gcm_channel", "GCMChannelRequest", {"DefaultAuthenticationMethod": "KEY"}, "ApiKey"),
        ("gcm_channel", "GCMChannelRequest", {"ApiKey": "k", "DefaultAuthenticationMethod": "PASSWORD"}, "KEY, TOKEN"),
        ("apns_channel", "APNSChannelRequest", {"DefaultAuthenticationMethod": "CERTIFICATE"}, "Certificate"),
        ("apns_channel", "APNSChannelRequest", {**APNS_KEY_REQUEST, "TeamId": None}, "TeamId"),
        ("apns_channel", "APNSChannelRequest", {**APNS_KEY_REQUEST, "TokenKey": "plain text"}, "PEM"),
        ("apns_channel", "APNSChannelRequest", {"DefaultAuthenticationMethod": "SECRET"}, "CERTIFICATE, KEY"),
        ("adm_channel", "ADMChannelRequest", {"ClientId": "c", "ClientSecret": ""}, "ClientSecret"),
        ("baidu_channel", "BaiduChannelRequest", {"ApiKey": " ", "SecretKey": "s"}, "ApiKey"),
    ],
)
def test_invalid_requests_answer_400_with_a_message(
    unvalidated_pinpoint, project, method, member, request_body, message
):
    request_body = {k: v for k, v in request_body.items() if v is not None}

    with pytest.raises(ClientError) as error:
        getattr(unvalidated_pinpoint, f"update_{method}")(ApplicationId=project.id, **{member: request_body})

    assert error.value.response["Error"]["Code"] == "BadRequestException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert message in error.value.response["Error"]["Message"]
    assert not Channel.objects.filter(project=project).exists()


def test_a_non_boolean_enabled_is_refused(unvalidated_pinpoint, project):
    with pytest.raises(ClientError) as error:
        unvalidated_pinpoint.update_voice_channel(ApplicationId=project.id, VoiceChannelRequest={"Enabled": "yes"})

    assert error.value.response["Error"]["Code"] == "BadRequestException"


def test_delete_of_an_unconfigured_channel_is_404(pinpoint, project):
    with pytest.raises(ClientError) as error:
        pinpoint.delete_baidu_channel(ApplicationId=project.id)

    assert error.value.response["Error"]["Code"] == "NotFoundException"


def test_another_projects_channel_is_not_found(pinpoint, project, pinpoint_for):
    other_owner = UserFactory(username="bob")
    other = MembershipFactory(user=other_owner, role=Role.OWNER).project
    pinpoint_for(other_owner).update_voice_channel(ApplicationId=other.id, VoiceChannelRequest={})

    with pytest.raises(ClientError) as read:
        pinpoint.get_voice_channel(ApplicationId=other.id)
    with pytest.raises(ClientError) as write:
        pinpoint.update_voice_channel(ApplicationId=other.id, VoiceChannelRequest={"Enabled": False})
    with pytest.raises(ClientError) as listing:
        pinpoint.get_channels(ApplicationId=other.id)

    assert read.value.response["Error"]["Code"] == "NotFoundException"
    assert write.value.response["Error"]["Code"] == "NotFoundException"
    assert listing.value.response["Error"]["Code"] == "NotFoundException"
    assert Channel.objects.get(project=other).enabled is True


def test_viewer_reads_channels_but_cannot_change_them(pinpoint, project, pinpoint_for):
    pinpoint.update_voice_channel(ApplicationId=project.id, VoiceChannelRequest={})
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    client = pinpoint_for(viewer)

    fetched = client.get_voice_channel(ApplicationId=project.id)["VoiceChannelResponse"]
    with pytest.raises(ClientError) as update:
        client.update_voice_channel(ApplicationId=project.id, VoiceChannelRequest={"Enabled": False})
    with pytest.raises(ClientError) as delete:
        client.delete_voice_channel(ApplicationId=project.id)

    assert fetched["Version"] == 1
    assert update.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert delete.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert Channel.objects.get(project=project).version == 1


def test_listing_every_channel_takes_one_query(pinpoint, project, django_assert_max_num_queries):
    for method, member, request, _ in CASES.values():
        getattr(pinpoint, f"update_{method}")(ApplicationId=project.id, **{member: request})

    with django_assert_max_num_queries(1):
        summaries = [channel_summary(channel) for channel in channels_list(project)]

    assert [s["Id"] for s in summaries] == [kind.lower() for kind in ChannelKind.values]


TWILIO_SID = "AC" + "0123456789abcdef" * 2


@pytest.mark.parametrize(("kind", "method", "shape"), [("SMS", "sms", "SMS"), ("VOICE", "voice", "Voice")])
def test_provider_settings_and_secrets_are_not_returned_by_the_api(pinpoint, project, kind, method, shape):
    channel_update(
        project,
        kind,
        {
            "Provider": "WEBHOOK",
            "WebhookUrl": "https://hooks.example.com/sms",
            "WebhookSecret": "webhook-secret-1234567",
        },
        by="page",
        extensions=True,
    )

    response = getattr(pinpoint, f"get_{method}_channel")(ApplicationId=project.id)[f"{shape}ChannelResponse"]
    raw = json.dumps(response, default=str)

    assert response["HasCredential"] is True
    assert not {"Provider", "WebhookUrl", "WebhookSecret", "TwilioAuthToken"} & set(response)
    assert "webhook-secret-1234567" not in raw
    assert "hooks.example.com" not in raw


def test_api_updates_keep_the_stored_provider_and_cannot_set_one(live_server, access_key, project):
    channel_update(
        project,
        "SMS",
        {"Provider": "TWILIO", "TwilioAccountSid": TWILIO_SID, "TwilioAuthToken": "token-kept-1"},
        by="page",
        extensions=True,
    )
    body = {"SenderId": "Engage", "Provider": "WEBHOOK", "TwilioAuthToken": "token-from-api"}

    answer = send_signed(
        live_server,
        "PUT",
        f"/v1/apps/{project.id}/channels/sms",
        key_id=access_key[0],
        secret=access_key[1],
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert answer.status == 200
    stored = SmsChannel.load(Channel.objects.get(project=project, kind="SMS"))
    assert (stored.SenderId, stored.Provider, stored.TwilioAuthToken) == ("Engage", "TWILIO", "token-kept-1")


def test_provider_secrets_are_stored_encrypted(project):
    channel_update(
        project,
        "SMS",
        {"Provider": "TWILIO", "TwilioAccountSid": TWILIO_SID, "TwilioAuthToken": "token-at-rest-1"},
        by="page",
        extensions=True,
    )

    channel = Channel.objects.get(project=project, kind="SMS")
    assert "token-at-rest-1" not in json.dumps(channel.settings) + channel.secrets_encrypted
    assert channel.settings["Provider"] == "TWILIO"


@pytest.mark.parametrize(
    ("members", "culprit"),
    [
        ({"Provider": "TWILIO"}, "TwilioAccountSid"),
        ({"Provider": "TWILIO", "TwilioAccountSid": "AC1", "TwilioAuthToken": "x"}, "TwilioAccountSid"),
        ({"Provider": "WEBHOOK", "WebhookUrl": "http://example.com/", "WebhookSecret": "s" * 20}, "WebhookUrl"),
        ({"Provider": "WEBHOOK", "WebhookUrl": "https://example.com/", "WebhookSecret": "short"}, "WebhookSecret"),
        ({"Provider": "CARRIER-PIGEON"}, "Provider"),
    ],
)
def test_incomplete_provider_settings_are_refused(project, members, culprit):
    with pytest.raises(ChannelInvalid) as invalid:
        channel_update(project, "SMS", members, by="page", extensions=True)

    assert invalid.value.member == culprit
    assert not Channel.objects.filter(project=project, kind="SMS").exists()
