import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import AccessKey, Membership
from projects.services import access_key_create
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["project", "membership", "applicationsettings", "accesskey"])
def test_every_model_has_an_admin_changelist(admin_client, model):
    MembershipFactory()

    response = admin_client.get(reverse(f"admin:projects_{model}_changelist"))

    assert response.status_code == 200


def test_access_key_admin_never_shows_the_secret(admin_client):
    issued = access_key_create(UserFactory())

    response = admin_client.get(reverse("admin:projects_accesskey_change", args=[issued.key.pk]))

    assert response.status_code == 200
    assert issued.secret not in response.content.decode()
    assert issued.key.secret_encrypted not in response.content.decode()


def test_access_keys_are_revoked_from_the_admin(admin_client):
    key = access_key_create(UserFactory()).key

    admin_client.post(
        reverse("admin:projects_accesskey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}
    )

    assert AccessKey.objects.get(pk=key.pk).revoked_at is not None


def test_projects_export_as_csv(admin_client):
    project = MembershipFactory().project

    response = admin_client.post(
        reverse("admin:projects_project_export"),
        {"format": "0", "resource": "0", "projectresource_id": "on", "projectresource_name": "on"},
    )

    assert response.status_code == 200
    assert project.id in response.content.decode()


def test_membership_import_reports_the_bad_row_by_line_and_writes_nothing(admin_client):
    project = MembershipFactory().project
    UserFactory(username="bob")
    csv = f"project,user,role\n{project.id},bob,editor\n{project.id},nobody,viewer\n".encode()

    response = admin_client.post(
        reverse("admin:projects_membership_import"),
        {"format": "0", "resource": "0", "import_file": SimpleUploadedFile("m.csv", csv, "text/csv")},
    )

    assert response.status_code == 200
    assert "Line number: 2 - User matching query does not exist." in response.content.decode()
    assert Membership.objects.filter(project=project).count() == 1
