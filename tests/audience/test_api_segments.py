import pytest

from audience.models import Segment, SegmentVersion
from audience.segments import segment_create
from projects.models import Role
from tests.conftest import send_signed
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}


def put(pinpoint, project, endpoint_id, body):
    pinpoint.update_endpoint(ApplicationId=project.id, EndpointId=endpoint_id, EndpointRequest=body)


def test_create_segment_returns_segment_response(pinpoint, project, settings):
    created = pinpoint.create_segment(
        ApplicationId=project.id,
        WriteSegmentRequest={"Name": "Pro users", "Dimensions": PLAN_PRO, "tags": {"team": "growth"}},
    )

    segment = created["SegmentResponse"]
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert segment["SegmentType"] == "DIMENSIONAL"
    assert segment["Version"] == 1
    assert segment["Dimensions"] == PLAN_PRO
    assert segment["tags"] == {"team": "growth"}
    assert segment["Arn"] == f"{project.arn}/segments/{segment['Id']}"


def test_every_update_is_a_new_version_and_old_versions_stay_readable(pinpoint, project):
    segment_id = pinpoint.create_segment(
        ApplicationId=project.id, WriteSegmentRequest={"Name": "v1", "Dimensions": PLAN_PRO}
    )["SegmentResponse"]["Id"]
    free = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["free"]}}}

    updated = pinpoint.update_segment(
        ApplicationId=project.id, SegmentId=segment_id, WriteSegmentRequest={"Name": "v2", "Dimensions": free}
    )["SegmentResponse"]
    first = pinpoint.get_segment_version(ApplicationId=project.id, SegmentId=segment_id, Version="1")["SegmentResponse"]
    versions = pinpoint.get_segment_versions(ApplicationId=project.id, SegmentId=segment_id)["SegmentsResponse"]

    assert (updated["Version"], updated["Name"], updated["Dimensions"]) == (2, "v2", free)
    assert (first["Version"], first["Name"], first["Dimensions"]) == (1, "v1", PLAN_PRO)
    assert [v["Version"] for v in versions["Item"]] == [1, 2]


def test_get_segments_pages(pinpoint, project):
    for i in range(3):
        pinpoint.create_segment(ApplicationId=project.id, WriteSegmentRequest={"Name": f"s{i}", "Dimensions": PLAN_PRO})

    first = pinpoint.get_segments(ApplicationId=project.id, PageSize="2")["SegmentsResponse"]
    second = pinpoint.get_segments(ApplicationId=project.id, PageSize="2", Token=first["NextToken"])["SegmentsResponse"]

    assert [s["Name"] for s in first["Item"] + second["Item"]] == ["s0", "s1", "s2"]


def test_delete_segment_returns_it_and_removes_its_versions(pinpoint, project):
    segment_id = pinpoint.create_segment(
        ApplicationId=project.id, WriteSegmentRequest={"Name": "gone", "Dimensions": PLAN_PRO}
    )["SegmentResponse"]["Id"]

    deleted = pinpoint.delete_segment(ApplicationId=project.id, SegmentId=segment_id)["SegmentResponse"]

    assert deleted["Id"] == segment_id
    assert not Segment.objects.exists()
    assert not SegmentVersion.objects.exists()


@pytest.mark.parametrize(
    ("request_body", "reason"),
    [
        ({"Name": "x"}, "needs Dimensions or SegmentGroups"),
        ({"Name": "x", "Dimensions": PLAN_PRO, "SegmentGroups": {"Groups": []}}, "not both"),
        (
            {"Name": "x", "Dimensions": {"Attributes": {"a": {"AttributeType": "BEFORE", "Values": ["later"]}}}},
            "ISO-8601",
        ),
        (
            {"Name": "x", "SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": "0" * 32}]}]}},
            "does not exist in this project",
        ),
    ],
)
def test_invalid_segments_are_bad_requests(pinpoint, project, request_body, reason):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match=reason):
        pinpoint.create_segment(ApplicationId=project.id, WriteSegmentRequest=request_body)

    assert not Segment.objects.exists()


def test_a_segment_cannot_use_itself_as_source(pinpoint, project):
    segment_id = pinpoint.create_segment(
        ApplicationId=project.id, WriteSegmentRequest={"Name": "a", "Dimensions": PLAN_PRO}
    )["SegmentResponse"]["Id"]

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="refers back to itself"):
        pinpoint.update_segment(
            ApplicationId=project.id,
            SegmentId=segment_id,
            WriteSegmentRequest={"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": segment_id}]}]}},
        )


def test_another_projects_segment_is_not_found_and_cannot_be_a_source(pinpoint, pinpoint_for, project):
    mallory = UserFactory(username="mallory")
    foreign = MembershipFactory(user=mallory).project
    foreign_id = pinpoint_for(mallory).create_segment(
        ApplicationId=foreign.id, WriteSegmentRequest={"Name": "theirs", "Dimensions": PLAN_PRO}
    )["SegmentResponse"]["Id"]

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment(ApplicationId=foreign.id, SegmentId=foreign_id)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment(ApplicationId=project.id, SegmentId=foreign_id)
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="does not exist in this project"):
        pinpoint.create_segment(
            ApplicationId=project.id,
            WriteSegmentRequest={"Name": "x", "SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": foreign_id}]}]}},
        )


def test_viewer_reads_segments_but_cannot_create(pinpoint_for, project):
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    client = pinpoint_for(viewer)

    client.get_segments(ApplicationId=project.id)
    with pytest.raises(client.exceptions.ForbiddenException):
        client.create_segment(ApplicationId=project.id, WriteSegmentRequest={"Name": "x", "Dimensions": PLAN_PRO})


def test_segments_are_taggable_by_arn(pinpoint, project):
    arn = pinpoint.create_segment(ApplicationId=project.id, WriteSegmentRequest={"Name": "t", "Dimensions": PLAN_PRO})[
        "SegmentResponse"
    ]["Arn"]

    pinpoint.tag_resource(ResourceArn=arn, TagsModel={"tags": {"k": "v"}})

    assert pinpoint.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"] == {"k": "v"}


@pytest.mark.parametrize("path", ["segments", "segments/{segment}/versions"])
def test_the_last_page_of_segments_leaves_next_token_out_of_the_json(path, live_server, project, access_key):
    segment = segment_create(project, name="Pro", dimensions={"Demographic": {"Platform": {"Values": ["ios"]}}})
    key_id, secret = access_key
    url = f"/v1/apps/{project.id}/{path.format(segment=segment.id)}"

    answer = send_signed(live_server, "GET", url, key_id=key_id, secret=secret)

    assert answer.status == 200
    assert "NextToken" not in answer.json()  # Pinpoint leaves it out; null is no string to the model
