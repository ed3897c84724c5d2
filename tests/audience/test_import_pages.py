import csv
import gzip
import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audience.imports import UPLOAD_KEPT, import_jobs_sweep
from audience.models import Endpoint, ImportJob, JobStatus, Segment
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from projects.models import Role
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

CSV = (
    "Id,ChannelType,Address,Attributes.Plan\n"
    "new-1,EMAIL,new1@example.com,pro\n"
    "old-1,,,team\n"
    "bad-1,FAX,+1,\n"
    "new-2,SMS,+15550100,\n"
)


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    endpoints_write(project, [parse_endpoint("old-1", {"ChannelType": "SMS", "Address": "+15550999"})])
    return client


def upload(client, body: str = CSV, name: str = "people.csv", **fields):
    file = SimpleUploadedFile(name, body.encode(), "text/csv")
    return client.post(reverse("audience:import"), {"file": file, **fields})


def test_the_audience_page_links_to_the_import_page(signed_in):
    html = signed_in.get(reverse("audience:endpoints")).content.decode()

    assert reverse("audience:import") in html


def test_an_upload_is_checked_first_and_nothing_is_written(signed_in, project):
    response = upload(signed_in)

    job = ImportJob.objects.get(project=project)
    page = signed_in.get(response["Location"]).content.decode()
    assert response.status_code == 302
    assert not job.confirmed
    assert job.preview == {
        "done": True,
        "rows": 4,
        "new": 2,
        "updated": 1,
        "invalid": 1,
        "reasons": [{"line": 4, "reason": job.preview["reasons"][0]["reason"]}],
        "error": "",
        "offset": len(CSV),
    }
    assert job.preview["reasons"][0]["reason"].startswith("ChannelType must be one of")
    assert "New endpoints" in page and "Import 3 rows" in page
    assert set(Endpoint.objects.values_list("key", flat=True)) == {"old-1"}


def test_confirming_imports_the_good_rows_and_the_failed_rows_download_as_csv(signed_in, project, uploads):
    job_url = upload(signed_in)["Location"]
    job = ImportJob.objects.get(project=project)

    signed_in.post(reverse("audience:import_confirm", args=[job.pk]))

    job.refresh_from_db()
    page = signed_in.get(job_url).content.decode()
    download = signed_in.get(reverse("audience:import_failures", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert job.status == JobStatus.COMPLETED
    assert (job.new_endpoints, job.updated_endpoints, job.total_failures) == (2, 1, 1)
    assert set(Endpoint.objects.values_list("key", flat=True)) == {"old-1", "new-1", "new-2"}
    assert Endpoint.objects.get(key="old-1").attributes == {"Plan": ["team"]}
    assert "Finished with errors" not in page and "Done" in page
    assert rows[0] == ["File", "Line", "Reason", "Row"]
    assert rows[1][:2] == ["people.csv", "4"] and rows[1][3] == "bad-1,FAX,+1,"
    assert not any(path.is_file() for path in uploads.rglob("*"))  # the uploaded file is gone once imported


def test_confirming_twice_runs_the_import_once(signed_in, project):
    upload(signed_in)
    job = ImportJob.objects.get(project=project)

    signed_in.post(reverse("audience:import_confirm", args=[job.pk]))
    signed_in.post(reverse("audience:import_confirm", args=[job.pk]))

    job.refresh_from_db()
    assert job.attempts == 2  # the dry run and the run
    assert job.total_processed == 4


def test_cancel_drops_the_upload_and_writes_nothing(signed_in, project, uploads):
    upload(signed_in)
    job = ImportJob.objects.get(project=project)

    response = signed_in.post(reverse("audience:import_cancel", args=[job.pk]))

    assert response.status_code == 302
    assert not ImportJob.objects.exists()
    assert not any(path.is_file() for path in uploads.rglob("*"))
    assert set(Endpoint.objects.values_list("key", flat=True)) == {"old-1"}


def test_a_json_file_of_user_ids_makes_a_segment(signed_in, project):
    endpoints_write(
        project, [parse_endpoint("ada-1", {"ChannelType": "SMS", "Address": "+1", "User": {"UserId": "ada"}})]
    )
    upload(signed_in, '{"User":{"UserId":"ada"}}\n', name="users.jsonl", define_segment="on", segment_name="Ada")
    job = ImportJob.objects.get(project=project)

    signed_in.post(reverse("audience:import_confirm", args=[job.pk]))

    segment = Segment.objects.get(project=project)
    assert (segment.name, segment.import_size) == ("Ada", 1)


def test_a_file_with_an_unknown_column_cannot_be_confirmed(signed_in, project):
    response = upload(signed_in, "Id,Colour\na,red\n")
    job = ImportJob.objects.get(project=project)

    page = signed_in.get(response["Location"]).content.decode()
    signed_in.post(reverse("audience:import_confirm", args=[job.pk]))

    assert "Unknown column &#x27;Colour&#x27;" in page
    assert "Import 0 rows" not in page
    assert not ImportJob.objects.get(pk=job.pk).confirmed


def test_a_file_name_without_a_known_suffix_asks_for_the_format(signed_in):
    response = upload(signed_in, name="people.txt")

    assert response.status_code == 200
    assert "Choose the format" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_viewer_sees_the_page_but_cannot_upload(client, project):
    viewer = MembershipFactory(project=project, role=Role.VIEWER).user
    client.force_login(viewer)

    page = client.get(reverse("audience:import"))
    response = upload(client)

    assert page.status_code == 200
    assert "Check the file" not in page.content.decode()
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_another_projects_import_is_not_found(signed_in):
    other = ImportJob.objects.create(project=ProjectFactory(), format="CSV", s3_url="s3://b/k")

    assert signed_in.get(reverse("audience:import_job", args=[other.pk])).status_code == 404
    assert signed_in.get(reverse("audience:import_failures", args=[other.pk])).status_code == 404
    assert signed_in.post(reverse("audience:import_confirm", args=[other.pk])).status_code == 404


def test_the_export_download_is_gzip_json_lines_of_endpoint_responses(signed_in, project):
    response = signed_in.get(reverse("audience:export"))

    rows = [json.loads(line) for line in gzip.decompress(b"".join(response.streaming_content)).splitlines()]
    assert response["Content-Type"] == "application/gzip"
    assert [(r["Id"], r["Address"], r["ApplicationId"]) for r in rows] == [("old-1", "+15550999", project.id)]


def test_a_dry_run_whose_worker_died_is_run_again_by_the_sweeper(signed_in, project):
    upload(signed_in)
    job = ImportJob.objects.get(project=project)
    ImportJob.objects.filter(pk=job.pk).update(preview={"done": False}, claimed_until=None)

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        requeued = import_jobs_sweep()

    assert requeued == 1
    assert ImportJob.objects.get(pk=job.pk).preview["done"] is True
    assert ImportJob.objects.get(pk=job.pk).preview["new"] == 2


def test_an_upload_not_confirmed_within_a_day_is_deleted_with_its_file_and_segment(signed_in, project, uploads):
    upload(signed_in, define_segment="on", segment_name="Never confirmed")
    assert Segment.objects.filter(project=project, name="Never confirmed").exists()

    with time_machine.travel(timezone.now() + UPLOAD_KEPT + timedelta(minutes=1)):
        import_jobs_sweep()

    assert not ImportJob.objects.exists()
    assert not Segment.objects.filter(project=project).exists()
    assert not any(path.is_file() for path in uploads.rglob("*"))
    assert set(Endpoint.objects.values_list("key", flat=True)) == {"old-1"}


def test_an_upload_waiting_for_confirmation_is_kept_within_the_day(signed_in, project, uploads):
    upload(signed_in)

    with time_machine.travel(timezone.now() + UPLOAD_KEPT - timedelta(minutes=5)):
        import_jobs_sweep()

    job = ImportJob.objects.get(project=project)
    assert not job.confirmed
    assert any(path.is_file() for path in uploads.rglob("*"))


def test_the_sweep_leaves_confirmed_imports_and_their_segments_alone(signed_in, project):
    upload(signed_in, define_segment="on", segment_name="Confirmed")
    job = ImportJob.objects.get(project=project)
    signed_in.post(reverse("audience:import_confirm", args=[job.pk]))

    with time_machine.travel(timezone.now() + UPLOAD_KEPT + timedelta(minutes=1)):
        import_jobs_sweep()

    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.COMPLETED
    assert Segment.objects.get(project=project).name == "Confirmed"


def test_cancel_deletes_the_empty_segment_the_upload_defined(signed_in, project):
    upload(signed_in, define_segment="on", segment_name="Cancelled")
    job = ImportJob.objects.get(project=project)

    signed_in.post(reverse("audience:import_cancel", args=[job.pk]))

    assert not Segment.objects.filter(project=project).exists()
