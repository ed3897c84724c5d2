import pytest
from django.urls import reverse

from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.channels import channel_update
from campaigns.models import Delivery, DeliveryStatus, MessageTemplate, TemplateVersion
from campaigns.templates import template_create, template_update
from projects.models import Role
from tests.campaigns import test_deliveries
from tests.campaigns.provider_server import ProviderServer
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

smtp_sink = test_deliveries.smtp_sink  # the real SMTP server fixture
EMAIL_CHANNEL = {"Enabled": True, "FromAddress": "news@example.com", "Identity": "example.com"}
WELCOME = {
    "Subject": "Hi {{User.UserAttributes.FirstName}}",
    "TextPart": "Plan: {{Attributes.Plan}}",
    "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "there"}',
}

pytestmark = pytest.mark.django_db


def test_the_admin_lists_templates_and_shows_their_versions(admin_client):
    template_create("SMS", "otp", {"Body": "one"})
    template_update("SMS", "otp", {"Body": "two"}, create_new_version=True)
    template = MessageTemplate.objects.get()

    listed = admin_client.get(reverse("admin:campaigns_messagetemplate_changelist"))
    shown = admin_client.get(reverse("admin:campaigns_messagetemplate_change", args=[template.pk]))

    assert listed.status_code == 200
    assert b"otp" in listed.content
    assert shown.status_code == 200
    assert b"two" in shown.content


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    return client


def _endpoint(project, endpoint_id: str, body: dict) -> None:
    endpoints_write(project, [parse_endpoint(endpoint_id, body)])


def test_the_list_shows_templates_filtered_by_type_and_prefix(signed_in):
    template_create("SMS", "promo-sms", {"Body": "x"})
    template_create("EMAIL", "promo-mail", {"Subject": "s"})
    template_create("EMAIL", "other", {"Subject": "s"})

    everything = signed_in.get(reverse("campaigns:templates")).content.decode()
    emails = signed_in.get(reverse("campaigns:templates"), {"type": "EMAIL", "prefix": "promo"}).content.decode()

    assert all(name in everything for name in ("promo-sms", "promo-mail", "other"))
    assert "promo-mail" in emails
    assert "promo-sms" not in emails
    assert ">other<" not in emails
    assert "shares them" in everything


def test_creating_a_template_from_the_editor(signed_in):
    response = signed_in.post(
        reverse("campaigns:template_new", args=["email"]),
        {"name": "welcome", "Subject": "Hi {{User.UserAttributes.FirstName}}", "HtmlPart": "<p>Hello</p>"},
    )

    assert response.status_code == 302
    row = TemplateVersion.objects.get(template__name="welcome")
    assert row.content == {"Subject": "Hi {{User.UserAttributes.FirstName}}", "HtmlPart": "<p>Hello</p>"}
    assert row.template.created_by.username == "alice"


def test_the_editor_shows_a_parse_error_and_saves_nothing(signed_in):
    response = signed_in.post(reverse("campaigns:template_new", args=["sms"]), {"name": "bad", "Body": "{{#if x}}"})

    assert response.status_code == 400
    assert "Body does not parse at line 1" in response.content.decode()
    assert not MessageTemplate.objects.exists()


def test_update_latest_and_save_as_new_version(signed_in):
    template_create("SMS", "otp", {"Body": "one"})
    url = reverse("campaigns:template_edit", args=["sms", "otp"])

    signed_in.post(url, {"Body": "one, edited", "base": "1", "save": "latest"})
    signed_in.post(url, {"Body": "two", "base": "1", "save": "new"})

    versions = {v.version: v.content["Body"] for v in TemplateVersion.objects.all()}
    assert versions == {1: "one, edited", 2: "two"}
    assert MessageTemplate.objects.get().active_version == 1


def test_updating_a_version_that_is_no_longer_the_latest_is_refused(signed_in):
    template_create("SMS", "otp", {"Body": "one"})
    template_update("SMS", "otp", {"Body": "two"}, create_new_version=True)

    response = signed_in.post(
        reverse("campaigns:template_edit", args=["sms", "otp"]), {"Body": "stale", "base": "1", "save": "latest"}
    )

    assert response.status_code == 400
    assert "not the latest version" in response.content.decode()
    assert TemplateVersion.objects.get(version=2).content == {"Body": "two"}


def test_push_fields_round_trip_through_the_editor(signed_in):
    signed_in.post(
        reverse("campaigns:template_new", args=["push"]),
        {"name": "p", "Default.Title": "T", "Default.Body": "B", "Default.Action": "URL", "APNS.MediaUrl": "m"},
    )

    row = TemplateVersion.objects.get()
    page = signed_in.get(reverse("campaigns:template_edit", args=["push", "p"])).content.decode()
    assert row.content == {"Default": {"Title": "T", "Body": "B", "Action": "URL"}, "APNS": {"MediaUrl": "m"}}
    assert 'value="URL" selected' in page


def test_the_preview_renders_for_a_chosen_endpoint(signed_in, project):
    _endpoint(project, "ep-1", {"ChannelType": "EMAIL", "Address": "a@example.com", "Attributes": {"Plan": ["gold"]}})
    _endpoint(
        project,
        "ep-2",
        {
            "ChannelType": "EMAIL",
            "Address": "b@example.com",
            "User": {"UserId": "u2", "UserAttributes": {"FirstName": ["Bea"]}},
        },
    )
    template_create("EMAIL", "welcome", WELCOME)

    first = signed_in.get(reverse("campaigns:template_edit", args=["email", "welcome"]), {"endpoint": "ep-1"})
    second = signed_in.post(
        reverse("campaigns:template_preview", args=["email"]),
        {"Subject": "Hi {{User.UserAttributes.FirstName}}!", "endpoint": "EP-2"},
    )

    assert "Hi there" in first.content.decode()
    assert "Plan: gold" in first.content.decode()
    assert "Hi Bea!" in second.content.decode()


def test_the_preview_escapes_rendered_html(signed_in, project):
    _endpoint(project, "ep-1", {"ChannelType": "EMAIL", "Address": "a@example.com", "Attributes": {"X": ["<b>"]}})

    response = signed_in.post(
        reverse("campaigns:template_preview", args=["sms"]), {"Body": "<script>{{Attributes.X}}</script>"}
    )

    html = response.content.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_the_editor_lists_the_project_variables(signed_in, project):
    _endpoint(
        project,
        "ep-1",
        {"ChannelType": "SMS", "Address": "+15550100", "Attributes": {"Plan": ["gold"]}, "Metrics": {"Visits": 2}},
    )

    page = signed_in.get(reverse("campaigns:template_new", args=["sms"])).content.decode()

    assert "Attributes.Plan" in page
    assert "Metrics.Visits" in page
    assert "Create the template first" in page


def test_the_history_diffs_two_versions_and_activates(signed_in):
    template_create("SMS", "otp", {"Body": "Your code is {{Attributes.Code}}"})
    template_update("SMS", "otp", {"Body": "Code: <{{Attributes.Code}}>"}, create_new_version=True)
    url = reverse("campaigns:template_history", args=["sms", "otp"])

    diff = signed_in.get(url, {"from": "1", "to": "2"}).content.decode()
    activated = signed_in.post(url, {"activate": "2"})

    assert '<span class="del">-Your code is {{Attributes.Code}}</span>' in diff
    assert '<span class="add">+Code: &lt;{{Attributes.Code}}&gt;</span>' in diff
    assert activated.status_code == 302
    assert MessageTemplate.objects.get().active_version == 2


def test_deleting_a_template_from_its_page(signed_in):
    template_create("SMS", "otp", {"Body": "x"})

    response = signed_in.post(reverse("campaigns:template_delete", args=["sms", "otp"]))

    assert response.status_code == 302
    assert not MessageTemplate.objects.exists()


def test_a_viewer_only_user_reads_but_cannot_save(client, project):
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    template_create("SMS", "otp", {"Body": "x"})
    client.force_login(viewer)
    url = reverse("campaigns:template_edit", args=["sms", "otp"])

    page = client.get(url)
    saved = client.post(url, {"Body": "changed", "base": "1", "save": "latest"})
    created = client.post(reverse("campaigns:template_new", args=["sms"]), {"name": "n", "Body": "x"})
    activated = client.post(reverse("campaigns:template_history", args=["sms", "otp"]), {"activate": "1"})
    previewed = client.post(reverse("campaigns:template_preview", args=["sms"]), {"Body": "hi"})

    assert page.status_code == 200
    assert "allow reading templates only" in page.content.decode()
    assert (saved.status_code, created.status_code, activated.status_code) == (403, 403, 403)
    assert previewed.status_code == 200
    assert TemplateVersion.objects.get().content == {"Body": "x"}


def test_an_editor_of_another_project_may_save_while_viewing_here(client, project):
    user = UserFactory(username="mixed")
    MembershipFactory(user=user, project=project, role=Role.VIEWER)
    MembershipFactory(user=user, role=Role.EDITOR)
    template_create("SMS", "otp", {"Body": "x"})
    client.force_login(user)

    client.post(reverse("campaigns:template_edit", args=["sms", "otp"]), {"Body": "y", "base": "1", "save": "latest"})

    assert TemplateVersion.objects.get().content == {"Body": "y"}


def test_unknown_templates_and_types_are_404(signed_in):
    assert signed_in.get(reverse("campaigns:template_edit", args=["sms", "nothing"])).status_code == 404
    assert signed_in.get(reverse("campaigns:template_new", args=["fax"])).status_code == 404


# --- test send -----------------------------------------------------------------------------------


@pytest.fixture
def welcome(project):
    """An email template with two versions (1 active) and the project's EMAIL channel enabled."""
    channel_update(project, "EMAIL", EMAIL_CHANNEL, by="test")
    template_create("EMAIL", "welcome", WELCOME)
    template_update("EMAIL", "welcome", {"Subject": "Version two", "TextPart": "v2"}, create_new_version=True)


def send_test(client, version: str = "1", **fields):
    return client.post(
        reverse("campaigns:template_test_send", args=["email", "welcome"]), {"version": version, **fields}, follow=True
    )


def test_a_test_email_to_an_address_arrives_with_the_default_substitutions(signed_in, smtp_sink, welcome):
    page = send_test(signed_in, target="address", address="ann@example.org").content.decode()

    [sent] = smtp_sink.messages
    assert (sent["To"], sent["From"], sent["Subject"]) == ("ann@example.org", "news@example.com", "Hi there")
    assert sent.get_body(("plain",)).get_content().strip() == "Plan:"
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SENT
    assert f"Version 1 sent to ann@example.org (EMAIL). Message id: {delivery.message_id.strip('<>')}." in page


def test_a_test_email_to_an_endpoint_is_rendered_with_its_data(signed_in, project, smtp_sink, welcome):
    _endpoint(
        project,
        "ep-1",
        {
            "ChannelType": "EMAIL",
            "Address": "bea@example.org",
            "Attributes": {"Plan": ["gold"]},
            "User": {"UserId": "u1", "UserAttributes": {"FirstName": ["Bea"]}},
        },
    )

    response = send_test(signed_in, target="endpoint", endpoint="EP-1", address="ignored@example.org")

    [sent] = smtp_sink.messages
    assert (sent["To"], sent["Subject"]) == ("bea@example.org", "Hi Bea")
    assert sent.get_body(("plain",)).get_content().strip() == "Plan: gold"
    assert Delivery.objects.get().endpoint_key == "ep-1"
    assert response.redirect_chain[-1][0].endswith("?version=1&endpoint=EP-1")


def test_the_version_shown_is_the_version_sent(signed_in, smtp_sink, welcome):
    send_test(signed_in, version="2", target="address", address="ann@example.org")

    assert [m["Subject"] for m in smtp_sink.messages] == ["Version two"]


def test_a_refusal_by_the_smtp_server_is_shown_with_its_reason(signed_in, smtp_sink, welcome):
    smtp_sink.refuse.add("gone@example.org")

    page = send_test(signed_in, target="address", address="gone@example.org").content.decode()

    assert not smtp_sink.messages
    assert "Not sent to gone@example.org (EMAIL): PERMANENT_FAILURE. SMTP 550" in page
    assert Delivery.objects.get().status == DeliveryStatus.FAILED_PERMANENT


def test_an_unreachable_server_is_a_temporary_failure_the_outbox_retries(signed_in, settings, welcome):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", test_deliveries.free_port()

    page = send_test(signed_in, target="address", address="ann@example.org").content.decode()

    assert "Not sent to ann@example.org (EMAIL) yet: SMTP connection failed" in page
    assert "Engage retries this delivery itself" in page
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED


def test_nothing_is_sent_while_the_channel_is_disabled(signed_in, project, smtp_sink, welcome):
    channel_update(project, "EMAIL", {**EMAIL_CHANNEL, "Enabled": False}, by="test")

    page = send_test(signed_in, target="address", address="ann@example.org").content.decode()

    assert "Nothing was sent. The EMAIL channel of this project is not enabled" in page
    assert not smtp_sink.messages
    assert not Delivery.objects.exists()


def test_an_opted_out_endpoint_gets_nothing(signed_in, project, smtp_sink, welcome):
    _endpoint(project, "ep-1", {"ChannelType": "EMAIL", "Address": "bea@example.org", "OptOut": "ALL"})

    page = send_test(signed_in, target="endpoint", endpoint="ep-1").content.decode()

    assert "Not sent to bea@example.org (EMAIL): OPT_OUT. The endpoint has opted out." in page
    assert not smtp_sink.messages


def test_endpoints_of_another_channel_or_project_are_refused(signed_in, project, smtp_sink, welcome):
    _endpoint(project, "phone", {"ChannelType": "SMS", "Address": "+4915112345678"})
    _endpoint(ProjectFactory(), "elsewhere", {"ChannelType": "EMAIL", "Address": "x@example.org"})

    wrong_channel = send_test(signed_in, target="endpoint", endpoint="phone").content.decode()
    other_project = send_test(signed_in, target="endpoint", endpoint="elsewhere").content.decode()

    assert "Endpoint phone is a SMS endpoint: email templates go to EMAIL endpoints." in wrong_channel
    assert "No endpoint with the id “elsewhere”" in other_project
    assert not smtp_sink.messages
    assert not Delivery.objects.exists()


def test_a_viewer_of_the_project_may_not_send_even_as_an_editor_elsewhere(client, project, smtp_sink, welcome):
    user = UserFactory(username="mixed")
    MembershipFactory(user=user, project=project, role=Role.VIEWER)
    MembershipFactory(user=user, role=Role.EDITOR)
    client.force_login(user)

    page = client.get(reverse("campaigns:template_edit", args=["email", "welcome"])).content.decode()
    refused = client.post(
        reverse("campaigns:template_test_send", args=["email", "welcome"]),
        {"version": "1", "target": "address", "address": "ann@example.org"},
    )

    assert "needs the owner or editor role in" in page
    assert 'id="test-send-form"' not in page
    assert refused.status_code == 403
    assert not smtp_sink.messages


def test_the_editor_offers_the_test_send_form_to_editors(signed_in, welcome):
    page = signed_in.get(reverse("campaigns:template_edit", args=["email", "welcome"]), {"version": "2"})

    html = page.content.decode()
    assert 'id="test-send-form"' in html
    assert '<input type="hidden" name="version" value="2">' in html


@pytest.fixture
def sms_webhook(project):
    server = ProviderServer()
    channel_update(
        project,
        "SMS",
        {
            "Enabled": True,
            "ShortCode": "+15005550006",
            "Provider": "WEBHOOK",
            "WebhookUrl": server.url + "/sms",
            "WebhookSecret": "a-webhook-secret-of-enough-length",
        },
        by="test",
        extensions=True,
    )
    yield server
    server.stop()


def test_an_sms_template_is_sent_through_the_projects_sms_provider(signed_in, project, settings, sms_webhook):
    settings.ENGAGE_WEBHOOK_ALLOW_HTTP = True
    template_create("SMS", "otp", {"Body": "Hi {{Name}}", "DefaultSubstitutions": '{"Name": "friend"}'})

    page = signed_in.post(
        reverse("campaigns:template_test_send", args=["sms", "otp"]),
        {"version": "1", "target": "address", "address": "+4915112345678", "channel": "SMS"},
        follow=True,
    ).content.decode()

    [call] = sms_webhook.received
    assert call.path == "/sms"
    assert (call.json()["To"], call.json()["Message"]["Body"]) == ("+4915112345678", "Hi friend")
    assert "Version 1 sent to +4915112345678 (SMS)." in page


def test_push_on_a_channel_without_a_transport_is_refused_honestly(signed_in, project):
    template_create("PUSH", "promo", {"Default": {"Title": "T", "Body": "B"}})
    url = reverse("campaigns:template_edit", args=["push", "promo"])

    page = signed_in.get(url).content.decode()
    sent = signed_in.post(
        reverse("campaigns:template_test_send", args=["push", "promo"]),
        {"version": "1", "target": "address", "address": "token-1", "channel": "ADM"},
        follow=True,
    ).content.decode()

    assert "ADM (no transport yet)" in page
    assert "Nothing was sent: Engage has no transport for ADM yet." in sent
    assert not Delivery.objects.exists()


def test_in_app_templates_are_not_sent(signed_in):
    template_create(
        "INAPP",
        "banner",
        {
            "Content": [{"BodyConfig": {"Alignment": "LEFT", "Body": "x", "TextColor": "#000000"}}],
            "Layout": "TOP_BANNER",
        },
    )

    page = signed_in.get(reverse("campaigns:template_edit", args=["inapp", "banner"])).content.decode()
    sent = signed_in.post(
        reverse("campaigns:template_test_send", args=["inapp", "banner"]), {"version": "1"}, follow=True
    ).content.decode()

    assert "apps fetch in-app messages themselves" in page
    assert 'id="test-send-form"' not in page
    assert "In-app templates are not sent" in sent
