import gzip
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audience.api.serializers import endpoint_responses
from audience.exports import ExportDefinition, export_download, export_job_create, export_job_run, export_jobs_sweep
from audience.models import Endpoint, ExportJob, JobStatus
from audience.services import endpoints_write
from audience.validation import parse_endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def add_endpoints(project, count):
    endpoints_write(
        project,
        [
            parse_endpoint(
                f"e{i:03d}",
                {
                    "ChannelType": "EMAIL",
                    "Address": f"p{i}@example.com",
                    "Attributes": {"Plan": ["pro"]},
                    "User": {"UserId": f"u{i}", "UserAttributes": {"Name": [f"N{i}"]}},
                },
            )
            for i in range(count)
        ],
    )


def read_export(s3, job) -> list[dict]:
    lines = []
    for url in job.written_files:
        lines += gzip.decompress(s3.get(url.split("/", 3)[3])).decode().splitlines()
    return [json.loads(line) for line in lines]


def test_export_round_trips_endpoint_responses_through_gzip_json(s3, project):
    add_endpoints(project, 3)

    job = export_job_create(project, ExportDefinition(s3_url_prefix=s3.url("dump"), role_arn="r"))

    job = ExportJob.objects.get(pk=job.pk)
    expected = endpoint_responses(project, list(Endpoint.objects.for_project(project).order_by("key")))
    assert job.status == JobStatus.COMPLETED
    assert job.written_files == [s3.url(f"dump/{job.pk}/part-00001.json.gz")]
    assert json.loads(json.dumps(expected)) == read_export(s3, job)


def test_an_export_stopped_between_files_resumes_without_duplicates(s3, project):
    add_endpoints(project, 5)
    job = ExportJob.objects.create(project=project, s3_url_prefix=s3.url("parts/"))

    export_job_run(job.pk, file_endpoints=1, max_files=2)  # the worker dies after two files
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        export_job_run(job.pk, file_endpoints=1)

    job = ExportJob.objects.get(pk=job.pk)
    ids = [row["Id"] for row in read_export(s3, job)]
    assert job.status == JobStatus.COMPLETED
    assert ids == ["e000", "e001", "e002", "e003", "e004"]
    assert (job.total_processed, job.completed_pieces, job.total_pieces) == (5, 5, 5)


def test_an_unreachable_bucket_leaves_the_job_for_a_retry_with_the_error(s3, project):
    add_endpoints(project, 1)
    job = ExportJob.objects.create(project=project, s3_url_prefix="s3://no-such-bucket-engage/x/")

    with pytest.raises(Exception, match="NoSuchBucket"):
        export_job_run(job.pk)

    job = ExportJob.objects.get(pk=job.pk)
    assert job.status == JobStatus.PROCESSING
    assert "NoSuchBucket" in job.last_error
    assert job.claimed_until is None


def test_the_download_is_one_gzip_stream_of_every_endpoint(project):
    add_endpoints(project, 3)

    data = gzip.decompress(b"".join(export_download(project)))

    assert [json.loads(line)["Id"] for line in data.decode().splitlines()] == ["e000", "e001", "e002"]


def test_the_sweeper_requeues_an_export_whose_worker_died(s3, project):
    add_endpoints(project, 2)
    job = ExportJob.objects.create(project=project, s3_url_prefix=s3.url("swept/"))
    export_job_run(job.pk, file_endpoints=1, max_files=1)

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        requeued = export_jobs_sweep()

    job = ExportJob.objects.get(pk=job.pk)
    assert requeued == 1
    assert job.status == JobStatus.COMPLETED
    assert [row["Id"] for row in read_export(s3, job)] == ["e000", "e001"]


def test_a_dynamic_segment_exports_its_members_at_a_pinned_version(s3, project):
    from audience.segments import segment_create, segment_update

    add_endpoints(project, 4)
    first = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    segment = segment_create(project, name="pro", dimensions=first)
    segment_update(segment, dimensions={"UserAttributes": {"Name": {"AttributeType": "INCLUSIVE", "Values": ["N1"]}}})

    latest = export_job_create(project, ExportDefinition(s3_url_prefix=s3.url("seg"), segment_id=segment.pk))
    pinned = export_job_create(
        project, ExportDefinition(s3_url_prefix=s3.url("seg1"), segment_id=segment.pk, segment_version=1)
    )

    assert [row["Id"] for row in read_export(s3, ExportJob.objects.get(pk=latest.pk))] == ["e001"]
    assert len(read_export(s3, ExportJob.objects.get(pk=pinned.pk))) == 4


def test_an_unknown_segment_version_is_refused(s3, project):
    from audience.exports import ExportRequestInvalid
    from audience.segments import segment_create

    segment = segment_create(project, name="s", dimensions={})

    with pytest.raises(ExportRequestInvalid, match="no version 9"):
        export_job_create(
            project, ExportDefinition(s3_url_prefix=s3.url("x"), segment_id=segment.pk, segment_version=9)
        )
