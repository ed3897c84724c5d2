import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audience.models import Endpoint, ImportJob
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

CSV = (
    "Id,ChannelType,Address,Attributes.Interests,Attributes.Interests,Metrics.visits\n"
    "e1,EMAIL,ada@example.com,math,poetry,3\n"
    "e2,FAX,+1,,,\n"
    "e3,SMS,+15550100,,,many\n"
    "e4,SMS,+15550101,,,\n"
)


@pytest.mark.parametrize(
    "model", ["endpoint", "audienceuser", "event", "attributedefinition", "segment", "importjob", "exportjob"]
)
def test_every_audience_model_has_an_admin_changelist(admin_client, model):
    ImportJob.objects.create(project=ProjectFactory(), format="CSV", s3_url="s3://b/k")

    response = admin_client.get(reverse(f"admin:audience_{model}_changelist"))

    assert response.status_code == 200


def upload(admin_client, project, csv: str, step: str, **extra):
    return admin_client.post(
        reverse(f"admin:audience_endpoint_{step}"),
        {
            "format": "0",
            "resource": "0",
            "project": project.pk,
            "import_file": SimpleUploadedFile("endpoints.csv", csv.encode(), "text/csv"),
            **extra,
        },
    )


def test_admin_import_preview_shows_new_rows_and_bad_rows_with_line_and_reason_and_writes_nothing(admin_client):
    project = ProjectFactory()

    response = upload(admin_client, project, CSV, "import")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Line 3: ChannelType must be one of" in html
    assert "Line 4: Metrics.visits must be a number, not &#x27;many&#x27;." in html
    assert 'name="import_file_name"' in html  # the confirm form: good rows can still be imported
    assert not Endpoint.objects.exists()


def test_admin_import_confirmed_keeps_good_rows_and_reports_bad_ones(admin_client):
    project = ProjectFactory()
    preview = upload(admin_client, project, CSV, "import")
    confirm = preview.context["confirm_form"].initial

    response = admin_client.post(reverse("admin:audience_endpoint_process_import"), confirm, follow=True)

    messages = [str(m) for m in response.context["messages"]]
    assert set(Endpoint.objects.filter(project=project).values_list("key", flat=True)) == {"e1", "e4"}
    assert Endpoint.objects.get(key="e1").attributes == {"Interests": ["math", "poetry"]}
    assert any("2 row(s) were not imported: Line 3: ChannelType" in m for m in messages)


def test_admin_import_of_an_unknown_column_is_refused_whole(admin_client):
    project = ProjectFactory()

    response = upload(admin_client, project, "Id,Colour\ne1,red\n", "import")

    assert "Unknown column &#x27;Colour&#x27;" in response.content.decode()
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None


def test_admin_export_writes_pinpoint_columns(admin_client):
    project = ProjectFactory()
    upload(admin_client, project, CSV, "import")
    preview = upload(admin_client, project, CSV, "import")
    admin_client.post(reverse("admin:audience_endpoint_process_import"), preview.context["confirm_form"].initial)

    response = admin_client.post(reverse("admin:audience_endpoint_export"), {"format": "0", "resource": "0"})

    lines = response.content.decode().splitlines()
    assert lines[0].startswith("Id,ChannelType,Address,OptOut,EndpointStatus,Demographic.AppVersion")
    assert lines[0].endswith("Attributes.Interests,Attributes.Interests,Metrics.visits")
    assert any(line.startswith("e1,EMAIL,ada@example.com,NONE,ACTIVE") and "math,poetry,3.0" in line for line in lines)
