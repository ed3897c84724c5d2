"""CreateImportJob, GetImportJob(s), GetSegmentImportJobs and the export operations through boto3."""

import gzip
import json

import pytest

from audience.models import ImportJob, Segment, SegmentType
from audience.segments import segment_create
from projects.models import Role
from tests.conftest import send_signed
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

CSV = "Id,ChannelType,Address,Attributes.Plan\na,EMAIL,a@example.com,pro\nb,SMS,+15550100,\nc,FAX,+1,\n"
ROLE = "arn:aws:iam::123456789012:role/PinpointImport"


def create_import(pinpoint, project, url, **extra):
    request = {"Format": "CSV", "S3Url": url, "RoleArn": ROLE, "RegisterEndpoints": True, **extra}
    return pinpoint.create_import_job(ApplicationId=project.id, ImportJobRequest=request)


def test_create_import_job_answers_201_and_the_job_reports_its_counts(pinpoint, project, s3):
    url = s3.put("imports/people.csv", CSV)

    created = create_import(pinpoint, project, url, DefineSegment=True, SegmentName="People")
    job = pinpoint.get_import_job(ApplicationId=project.id, JobId=created["ImportJobResponse"]["Id"])[
        "ImportJobResponse"
    ]

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert job["ApplicationId"] == project.id
    assert job["Type"] == "IMPORT"
    assert job["JobStatus"] == "COMPLETED"
    assert job["Definition"] == {
        "Format": "CSV",
        "S3Url": url,
        "RoleArn": ROLE,
        "DefineSegment": True,
        "RegisterEndpoints": True,
        "SegmentId": Segment.objects.get().id,
        "SegmentName": "People",
    }
    assert (job["TotalPieces"], job["CompletedPieces"], job["FailedPieces"]) == (1, 1, 0)
    assert (job["TotalProcessed"], job["TotalFailures"]) == (3, 1)
    assert len(job["Failures"]) == 1
    assert job["Failures"][0].startswith("imports/people.csv line 4: ChannelType must be one of")
    assert job["CreationDate"].endswith("Z") and job["CompletionDate"].endswith("Z")
    assert pinpoint.get_endpoint(ApplicationId=project.id, EndpointId="a")["EndpointResponse"]["Attributes"] == {
        "Plan": ["pro"]
    }


def test_get_import_jobs_pages_and_segment_import_jobs_filter(pinpoint, project, s3, django_assert_max_num_queries):
    url = s3.put("a.csv", CSV)
    first = create_import(pinpoint, project, url, DefineSegment=True)["ImportJobResponse"]
    create_import(pinpoint, project, url)
    create_import(pinpoint, project, url, SegmentId=first["Definition"]["SegmentId"], DefineSegment=True)

    page = pinpoint.get_import_jobs(ApplicationId=project.id, PageSize="2")["ImportJobsResponse"]
    rest = pinpoint.get_import_jobs(ApplicationId=project.id, PageSize="2", Token=page["NextToken"])[
        "ImportJobsResponse"
    ]
    of_segment = pinpoint.get_segment_import_jobs(ApplicationId=project.id, SegmentId=first["Definition"]["SegmentId"])

    assert len(page["Item"]) == 2
    assert len(rest["Item"]) == 1 and "NextToken" not in rest
    assert len(of_segment["ImportJobsResponse"]["Item"]) == 2
    assert {j["Id"] for j in page["Item"] + rest["Item"]} == set(ImportJob.objects.values_list("id", flat=True))


def test_listing_import_jobs_takes_a_bounded_number_of_queries(
    client, user, project, s3, django_assert_max_num_queries
):
    url = s3.put("a.csv", CSV)
    for _ in range(5):
        ImportJob.objects.create(project=project, format="CSV", s3_url=url)
    client.force_login(user)

    with django_assert_max_num_queries(8):
        response = client.get(f"/v1/apps/{project.id}/jobs/import")

    assert len(response.json()["Item"]) == 5


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"Format": "XML", "S3Url": "s3://b/k", "RoleArn": ROLE}, "Format"),
        ({"Format": "CSV", "S3Url": "https://example.com/x.csv", "RoleArn": ROLE}, "is not an S3 URL"),
        ({"Format": "CSV", "S3Url": "s3://b/k"}, "RoleArn"),
        ({"Format": "CSV", "S3Url": "s3://b/k", "RoleArn": ROLE, "RegisterEndpoints": False}, "Nothing to do"),
    ],
)
def test_invalid_import_requests_are_bad_requests(unvalidated_pinpoint, project, request_body, message):
    with pytest.raises(unvalidated_pinpoint.exceptions.BadRequestException, match=message):
        unvalidated_pinpoint.create_import_job(ApplicationId=project.id, ImportJobRequest=request_body)

    assert not ImportJob.objects.exists()


def test_an_unknown_segment_id_is_not_found(pinpoint, project, s3):
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        create_import(pinpoint, project, s3.put("a.csv", CSV), SegmentId="0" * 32)


def test_a_dynamic_segment_cannot_be_extended_by_an_import(pinpoint, project, s3):
    segment = Segment.objects.create(project=project, segment_type=SegmentType.DIMENSIONAL, name="Active")

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="dynamic segment"):
        create_import(pinpoint, project, s3.put("a.csv", CSV), SegmentId=segment.id)


def test_another_projects_job_is_not_found(pinpoint, project, s3):
    other = ProjectFactory()
    job = ImportJob.objects.create(project=other, format="CSV", s3_url="s3://b/k")

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_import_job(ApplicationId=project.id, JobId=job.id)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_import_job(ApplicationId=other.id, JobId=job.id)


def test_a_viewer_may_read_jobs_but_not_create_them(pinpoint_for, project, s3):
    viewer = MembershipFactory(project=project, role=Role.VIEWER).user
    client = pinpoint_for(viewer)

    with pytest.raises(client.exceptions.ForbiddenException):
        create_import(client, project, s3.put("a.csv", CSV))
    with pytest.raises(client.exceptions.ForbiddenException):
        client.create_export_job(
            ApplicationId=project.id, ExportJobRequest={"S3UrlPrefix": s3.url("x/"), "RoleArn": ROLE}
        )

    assert client.get_import_jobs(ApplicationId=project.id)["ImportJobsResponse"]["Item"] == []


def exported(s3, job) -> list[dict]:
    lines = []
    for key in s3.list_keys():
        if key.startswith("out/") and job["Id"] in key:
            lines += gzip.decompress(s3.get(key)).decode().splitlines()
    return [json.loads(line) for line in lines]


def test_create_export_job_answers_202_and_writes_gzip_endpoint_responses(pinpoint, project, s3):
    create_import(pinpoint, project, s3.put("a.csv", CSV))
    original = pinpoint.get_endpoint(ApplicationId=project.id, EndpointId="a")["EndpointResponse"]

    created = pinpoint.create_export_job(
        ApplicationId=project.id, ExportJobRequest={"S3UrlPrefix": s3.url("out/"), "RoleArn": ROLE}
    )
    job = pinpoint.get_export_job(ApplicationId=project.id, JobId=created["ExportJobResponse"]["Id"])[
        "ExportJobResponse"
    ]

    rows = exported(s3, job)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert job["Type"] == "EXPORT"
    assert job["JobStatus"] == "COMPLETED"
    assert job["Definition"] == {"S3UrlPrefix": s3.url("out/"), "RoleArn": ROLE}
    assert (job["TotalProcessed"], job["TotalPieces"], job["CompletedPieces"]) == (2, 1, 1)
    assert [r["Id"] for r in rows] == ["a", "b"]
    assert rows[0] == original


def test_an_export_of_an_imported_segment_holds_its_members_and_lists_under_the_segment(pinpoint, project, s3):
    create_import(pinpoint, project, s3.put("all.csv", CSV))
    segment_job = create_import(pinpoint, project, s3.put("one.csv", "Id\nb\n"), DefineSegment=True)
    segment_id = segment_job["ImportJobResponse"]["Definition"]["SegmentId"]

    created = pinpoint.create_export_job(
        ApplicationId=project.id,
        ExportJobRequest={"S3UrlPrefix": s3.url("out"), "RoleArn": ROLE, "SegmentId": segment_id},
    )["ExportJobResponse"]
    listed = pinpoint.get_segment_export_jobs(ApplicationId=project.id, SegmentId=segment_id)["ExportJobsResponse"]

    assert [r["Id"] for r in exported(s3, created)] == ["b"]
    assert [j["Id"] for j in listed["Item"]] == [created["Id"]]
    assert pinpoint.get_export_jobs(ApplicationId=project.id)["ExportJobsResponse"]["Item"][0]["Id"] == created["Id"]


def test_export_errors_are_pinpoint_errors(pinpoint, project, s3):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="S3UrlPrefix"):
        pinpoint.create_export_job(
            ApplicationId=project.id, ExportJobRequest={"S3UrlPrefix": "/tmp/x", "RoleArn": ROLE}
        )
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.create_export_job(
            ApplicationId=project.id, ExportJobRequest={"S3UrlPrefix": s3.url(), "RoleArn": ROLE, "SegmentId": "f" * 32}
        )
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_export_job(ApplicationId=project.id, JobId="0" * 32)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment_import_jobs(ApplicationId=project.id, SegmentId="0" * 32)


@pytest.mark.parametrize(
    "path", ["jobs/import", "jobs/export", "segments/{segment}/jobs/import", "segments/{segment}/jobs/export"]
)
def test_the_last_page_of_jobs_leaves_next_token_out_of_the_json(path, live_server, project, access_key):
    segment = segment_create(project, name="Pro", dimensions={"Demographic": {"Platform": {"Values": ["ios"]}}})
    key_id, secret = access_key
    url = f"/v1/apps/{project.id}/{path.format(segment=segment.id)}"

    answer = send_signed(live_server, "GET", url, key_id=key_id, secret=secret)

    assert answer.status == 200
    assert "NextToken" not in answer.json()  # Pinpoint leaves it out; null is no string to the model
