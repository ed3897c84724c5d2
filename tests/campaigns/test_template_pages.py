import pytest
from django.urls import reverse

from campaigns.models import MessageTemplate
from campaigns.templates import template_create, template_update

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
