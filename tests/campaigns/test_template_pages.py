import pytest
from django.urls import reverse

from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.models import MessageTemplate, TemplateVersion
from campaigns.templates import template_create, template_update
from projects.models import Role
from tests.factories import MembershipFactory, UserFactory

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
    template_create(
        "EMAIL",
        "welcome",
        {
            "Subject": "Hi {{User.UserAttributes.FirstName}}",
            "TextPart": "Plan: {{Attributes.Plan}}",
            "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "there"}',
        },
    )

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
    assert "delivery pipeline" in page


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
