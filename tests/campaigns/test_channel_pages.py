import json

import pytest
from django.urls import reverse

from campaigns.channels import CHANNELS, channel_update
from campaigns.models import Channel, ChannelKind, Delivery
from projects.models import Role
from tests.campaigns.provider_server import ProviderServer
from tests.campaigns.test_deliveries import smtp_sink  # noqa: F401 - a fixture
from tests.campaigns.test_transports_push import (  # noqa: F401 - fixtures of the loopback APNs server
    DEVICE,
    apns_channel,
    apple_answers,
    apple_key,
    authority,
    provider,
)
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

TOKEN_KEY = "-----BEGIN PRIVATE KEY-----\nMIGTAgEA-page-token-key\n-----END PRIVATE KEY-----"
APNS_FORM = {
    "Enabled": "on",
    "DefaultAuthenticationMethod": "KEY",
    "BundleId": "com.example.app",
    "TeamId": "ABCDE12345",
    "TokenKeyId": "KEY1234567",
    "TokenKey": TOKEN_KEY,
    "Certificate": "",
    "PrivateKey": "",
}


def _url(name: str, kind: str | None = None) -> str:
    return reverse(f"campaigns:{name}", args=[kind.lower()] if kind else [])


def _stored(project, kind):
    return CHANNELS[kind].load(Channel.objects.get(project=project, kind=kind))


def _viewer(project):
    return MembershipFactory(project=project, role=Role.VIEWER).user


def test_the_list_shows_all_ten_channels_with_their_state(client, user, project):
    channel_update(project, ChannelKind.VOICE, {"Enabled": False}, by="alice")
    channel_update(project, ChannelKind.SMS, {}, by="alice")
    client.force_login(user)

    html = client.get(_url("channels")).content.decode()

    for kind, spec in CHANNELS.items():
        assert spec.title in html
        assert _url("channel", kind) in html
    assert html.count("Not configured") == 8
    assert "Disabled" in html
    assert "<strong>Enabled</strong>" in html


def test_the_settings_page_links_to_channels(client, user, project):
    client.force_login(user)

    html = client.get(reverse("project_settings")).content.decode()

    assert _url("channels") in html


def test_creating_a_channel_with_the_form(client, user, project):
    client.force_login(user)

    response = client.post(_url("channel", ChannelKind.APNS), APNS_FORM)

    channel = Channel.objects.get(project=project, kind=ChannelKind.APNS)
    assert response.status_code == 302
    assert channel.enabled is True
    assert channel.last_modified_by == user.username
    assert _stored(project, ChannelKind.APNS).TokenKey == TOKEN_KEY
    assert "page-token-key" not in str(channel.settings) + channel.secrets_encrypted


def test_the_page_never_renders_a_stored_secret(client, user, project):
    client.force_login(user)
    client.post(_url("channel", ChannelKind.APNS), APNS_FORM)

    html = client.get(_url("channel", ChannelKind.APNS)).content.decode()

    assert "page-token-key" not in html
    assert "com.example.app" in html
    assert "Leave blank to keep the stored secret." in html
    assert "Stored (encrypted, not shown)" in html


def test_a_blank_secret_keeps_the_stored_one(client, user, project):
    client.force_login(user)
    client.post(_url("channel", ChannelKind.APNS), APNS_FORM)

    client.post(_url("channel", ChannelKind.APNS), {**APNS_FORM, "TokenKey": "", "BundleId": "com.example.other"})

    settings = _stored(project, ChannelKind.APNS)
    assert settings.TokenKey == TOKEN_KEY
    assert settings.BundleId == "com.example.other"
    assert Channel.objects.get(project=project, kind=ChannelKind.APNS).version == 2


def test_an_invalid_form_saves_nothing_and_does_not_echo_the_secret(client, user, project):
    client.force_login(user)

    response = client.post(_url("channel", ChannelKind.APNS), {**APNS_FORM, "TeamId": "short"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "TeamId must be the 10-character identifier" in html
    assert "page-token-key" not in html
    assert not Channel.objects.filter(project=project).exists()


def test_an_email_channel_needs_a_from_address(client, user, project):
    client.force_login(user)

    response = client.post(_url("channel", ChannelKind.EMAIL), {"Enabled": "on", "FromAddress": "", "Identity": "x"})

    assert "FromAddress is required." in response.content.decode()
    assert not Channel.objects.filter(project=project).exists()


def test_disabling_and_enabling(client, user, project):
    channel_update(project, ChannelKind.VOICE, {}, by="alice")
    client.force_login(user)

    client.post(_url("channel_enable", ChannelKind.VOICE), {"enabled": "0"})
    disabled = Channel.objects.get(project=project).enabled
    client.post(_url("channel_enable", ChannelKind.VOICE), {"enabled": "1"})

    channel = Channel.objects.get(project=project)
    assert disabled is False
    assert channel.enabled is True
    assert channel.version == 3


def test_deleting_a_channel(client, user, project):
    channel_update(project, ChannelKind.VOICE, {}, by="alice")
    client.force_login(user)

    response = client.post(_url("channel_delete", ChannelKind.VOICE))

    assert response.status_code == 302
    assert not Channel.objects.filter(project=project).exists()


def test_an_unknown_channel_is_404(client, user, project):
    client.force_login(user)

    response = client.get("/channels/in_app/")

    assert response.status_code == 404


def test_a_viewer_sees_the_channel_without_forms(client, project):
    channel_update(project, ChannelKind.SMS, {"SenderId": "Engage"}, by="alice")
    client.force_login(_viewer(project))

    html = client.get(_url("channel", ChannelKind.SMS)).content.decode()

    assert "Engage" in html
    assert "Save channel" not in html
    assert "Delete channel" not in html


@pytest.mark.parametrize("name", ["channel", "channel_enable", "channel_delete"])
def test_a_viewer_cannot_post(client, project, name):
    channel_update(project, ChannelKind.SMS, {"SenderId": "Engage"}, by="alice")
    client.force_login(_viewer(project))

    response = client.post(_url(name, ChannelKind.SMS), {"Enabled": "on", "SenderId": "Other", "enabled": "0"})

    channel = Channel.objects.get(project=project)
    assert response.status_code == 403
    assert channel.version == 1
    assert channel.settings == {"SenderId": "Engage"}


def test_adm_and_baidu_pages_say_delivery_is_not_supported_yet(client, user, project):
    client.force_login(user)

    html = client.get(_url("channel", ChannelKind.BAIDU)).content.decode()

    assert "UNSUPPORTED_CHANNEL" in html


def test_the_admin_lists_channels_and_never_shows_secrets(admin_client, project):
    channel = channel_update(project, ChannelKind.ADM, {"ClientId": "c", "ClientSecret": "adm-admin-secret"}, by="a")

    listing = admin_client.get(reverse("admin:campaigns_channel_changelist"))
    detail = admin_client.get(reverse("admin:campaigns_channel_change", args=[channel.pk]))

    assert listing.status_code == 200
    assert detail.status_code == 200
    for html in (listing.content.decode(), detail.content.decode()):
        assert "adm-admin-secret" not in html
        assert channel.secrets_encrypted not in html


# --- Provider settings and test messages --------------------------------------------------------

SID = "AC" + "0123456789abcdef" * 2
TWILIO_FORM = {
    "Enabled": "on",
    "SenderId": "",
    "ShortCode": "+15005550006",
    "Provider": "TWILIO",
    "TwilioAccountSid": SID,
    "TwilioAuthToken": "page-auth-token-1",
    "WebhookUrl": "",
    "WebhookSecret": "",
}


@pytest.fixture
def twilio(settings):
    server = ProviderServer()
    settings.ENGAGE_TWILIO_API_URL = server.url
    server.answer((201, {}, {"sid": "SM-page-1"}))
    yield server
    server.stop()


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_the_sms_form_sets_the_provider_and_never_shows_its_token(client, user, project, settings):
    settings.ENGAGE_SMS_PROVIDER = ""
    client.force_login(user)
    before = client.get(_url("channel", "SMS")).content.decode()

    client.post(_url("channel", "SMS"), TWILIO_FORM)
    html = client.get(_url("channel", "SMS")).content.decode()

    assert "None: SMS deliveries fail" in before
    stored = _stored(project, "SMS")
    assert (stored.Provider, stored.TwilioAccountSid, stored.TwilioAuthToken) == ("TWILIO", SID, "page-auth-token-1")
    assert "Twilio, set on this channel." in html
    assert "page-auth-token-1" not in html
    assert "not part of Pinpoint" in html


def test_saving_again_with_a_blank_token_keeps_the_stored_one(client, user, project):
    client.force_login(user)
    client.post(_url("channel", "SMS"), TWILIO_FORM)

    client.post(_url("channel", "SMS"), {**TWILIO_FORM, "TwilioAuthToken": "", "SenderId": "Engage"})

    stored = _stored(project, "SMS")
    assert (stored.SenderId, stored.TwilioAuthToken) == ("Engage", "page-auth-token-1")


def test_a_test_sms_goes_through_twilio_and_shows_the_sid(client, user, project, twilio):
    client.force_login(user)
    client.post(_url("channel", "SMS"), TWILIO_FORM)

    response = client.post(
        _url("channel_test", "SMS"), {"address": "+4915112345678", "text": "Hello from the page"}, follow=True
    )

    assert "Test message sent to +4915112345678. Provider message id: SM-page-1" in _messages(response)
    assert twilio.received[0].form() == {"To": "+4915112345678", "From": "+15005550006", "Body": "Hello from the page"}
    delivery = Delivery.objects.get(project=project)
    assert (delivery.channel, delivery.status, delivery.provider_message_id) == ("SMS", "SENT", "SM-page-1")


def test_a_refused_test_sms_shows_the_providers_reason(client, user, project, twilio):
    client.force_login(user)
    client.post(_url("channel", "SMS"), TWILIO_FORM)
    twilio.answer((400, {}, {"code": 21211, "message": "The 'To' number is not a valid phone number."}))

    response = client.post(_url("channel_test", "SMS"), {"address": "+4915112345678"}, follow=True)

    assert "failed: Twilio refused the message: HTTP 400 21211" in _messages(response)


def test_a_test_sms_without_a_provider_says_none_is_configured(client, user, project, settings):
    settings.ENGAGE_SMS_PROVIDER = ""
    channel_update(project, "SMS", {"ShortCode": "12345"}, by="alice")
    client.force_login(user)

    response = client.post(_url("channel_test", "SMS"), {"address": "+4915112345678"}, follow=True)

    assert "no SMS provider configured" in _messages(response)


def test_a_test_email_reaches_the_smtp_server(client, user, project, smtp_sink):  # noqa: F811 - the fixture
    channel_update(project, "EMAIL", {"FromAddress": "news@example.com", "Identity": "example.com"}, by="alice")
    client.force_login(user)

    response = client.post(
        _url("channel_test", "EMAIL"), {"address": "me@example.org", "text": "It works"}, follow=True
    )

    assert "Test message sent to me@example.org" in _messages(response)
    (message,) = smtp_sink.messages
    assert (message["Subject"], message["To"], message["From"]) == (
        "Engage test message",
        "me@example.org",
        "news@example.com",
    )
    assert message.get_content().strip() == "It works"


@pytest.mark.parametrize(("kind", "address"), [("SMS", "0151 12345678"), ("EMAIL", "not-an-address")])
def test_a_malformed_address_sends_nothing(client, user, project, kind, address):
    channel_update(project, "EMAIL", {"FromAddress": "news@example.com", "Identity": "example.com"}, by="alice")
    channel_update(project, "SMS", {}, by="alice")
    client.force_login(user)

    response = client.post(_url("channel_test", kind), {"address": address}, follow=True)

    assert "Nothing was sent" in _messages(response)
    assert not Delivery.objects.exists()


def test_a_disabled_channel_offers_no_test_and_refuses_one(client, user, project):
    channel_update(project, "SMS", {"Enabled": False}, by="alice")
    client.force_login(user)

    html = client.get(_url("channel", "SMS")).content.decode()
    response = client.post(_url("channel_test", "SMS"), {"address": "+4915112345678"}, follow=True)

    assert "Enable the channel to send a test message" in html
    assert "Nothing was sent: The channel is not enabled" in _messages(response)
    assert not Delivery.objects.exists()


def test_channels_without_an_adapter_say_tests_are_not_available(client, user, project):
    channel_update(project, "ADM", {"ClientId": "id", "ClientSecret": "secret"}, by="alice")
    client.force_login(user)

    html = client.get(_url("channel", "ADM")).content.decode()

    assert "Not available: Engage has no adapter for ADM yet" in html
    assert 'action="' + _url("channel_test", "ADM") not in html


def test_viewers_cannot_send_test_messages(client, project):
    channel_update(project, "SMS", {}, by="alice")
    client.force_login(_viewer(project))

    response = client.post(_url("channel_test", "SMS"), {"address": "+4915112345678"})

    assert response.status_code == 403
    assert not Delivery.objects.exists()


def test_test_messages_are_scoped_to_the_current_project(client, user, project):
    other = MembershipFactory(role=Role.OWNER).project
    channel_update(other, "SMS", {}, by="bob")
    client.force_login(user)

    response = client.post(_url("channel_test", "SMS"), {"address": "+4915112345678"}, follow=True)

    assert "The channel is not enabled" in _messages(response)
    assert not Delivery.objects.exists()


def test_the_list_explains_custom_channel_webhooks(client, user, project, settings):
    settings.ENGAGE_ACCOUNT_ID = "123456789012"
    client.force_login(user)

    html = client.get(_url("channels")).content.decode()

    assert "X-Amz-Pinpoint-AccountId: 123456789012" in html
    assert reverse("project_settings") in html


def test_a_test_push_reaches_apns_and_shows_the_apns_id(client, user, project, provider, apns_channel):  # noqa: F811
    apple_answers(provider)
    client.force_login(user)

    response = client.post(_url("channel_test", "APNS"), {"address": DEVICE, "text": "Ping"}, follow=True)

    (request,) = provider.received
    assert request.path == f"/3/device/{DEVICE}"
    assert json.loads(request.body)["aps"]["alert"] == {"title": "Engage test message", "body": "Ping"}
    assert f"Provider message id: {request.headers['apns-id']}" in _messages(response)
