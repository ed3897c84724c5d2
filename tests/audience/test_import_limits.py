"""Pinpoint's quota of import jobs running at once, through boto3 and the Audience page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audience.imports import MAX_ACTIVE_IMPORT_JOBS
from audience.models import ImportJob, JobStatus
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

CSV = "Id,ChannelType,Address\na,EMAIL,a@example.com\n"
ROLE = "arn:aws:iam::123456789012:role/PinpointImport"


def jobs(project, count, status=JobStatus.PROCESSING, **fields):
    ImportJob.objects.bulk_create(
        [
            ImportJob(project=project, format="CSV", s3_url=f"s3://b/{n}.csv", status=status, **fields)
            for n in range(count)
        ]
    )


def create_import(pinpoint, project, url):
    request = {"Format": "CSV", "S3Url": url, "RoleArn": ROLE, "RegisterEndpoints": True}
    return pinpoint.create_import_job(ApplicationId=project.id, ImportJobRequest=request)


def test_an_eleventh_running_import_job_is_refused_with_a_bad_request(pinpoint, project, s3):
    jobs(project, MAX_ACTIVE_IMPORT_JOBS)

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="at most 10 can run at once"):
        create_import(pinpoint, project, s3.put("a.csv", CSV))

    assert ImportJob.objects.filter(project=project).count() == MAX_ACTIVE_IMPORT_JOBS


def test_finished_jobs_and_unconfirmed_uploads_leave_room(pinpoint, project, s3):
    jobs(project, MAX_ACTIVE_IMPORT_JOBS, status=JobStatus.COMPLETED)
    jobs(project, 3, status=JobStatus.FAILED)
    jobs(project, 5, status=JobStatus.CREATED, confirmed=False)
    jobs(project, MAX_ACTIVE_IMPORT_JOBS - 1)

    created = create_import(pinpoint, project, s3.put("a.csv", CSV))

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201


def test_another_projects_running_jobs_do_not_count(pinpoint, project, s3):
    jobs(ProjectFactory(), MAX_ACTIVE_IMPORT_JOBS)

    created = create_import(pinpoint, project, s3.put("a.csv", CSV))

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201


def test_confirming_an_upload_while_ten_jobs_run_is_refused_with_the_reason(client, user, project, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(user)
    client.post(reverse("audience:import"), {"file": SimpleUploadedFile("people.csv", CSV.encode(), "text/csv")})
    upload = ImportJob.objects.get(project=project)
    jobs(project, MAX_ACTIVE_IMPORT_JOBS)

    response = client.post(reverse("audience:import_confirm", args=[upload.pk]), follow=True)

    upload.refresh_from_db()
    assert not upload.confirmed and upload.status == JobStatus.CREATED
    assert "at most 10 can run at once" in response.content.decode()
