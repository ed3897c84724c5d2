import pytest

from projects.models import Project, Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_tag_list_untag_round_trip_with_an_encoded_arn(pinpoint, project):
    pinpoint.tag_resource(ResourceArn=project.arn, TagsModel={"tags": {"team": "growth", "cost center": "42/a"}})
    listed = pinpoint.list_tags_for_resource(ResourceArn=project.arn)["TagsModel"]["tags"]
    pinpoint.untag_resource(ResourceArn=project.arn, TagKeys=["cost center"])

    assert listed == {"team": "growth", "cost center": "42/a"}
    assert Project.objects.get(pk=project.pk).tags == {"team": "growth"}


def test_tagging_replaces_values_of_existing_keys(pinpoint, project):
    pinpoint.tag_resource(ResourceArn=project.arn, TagsModel={"tags": {"team": "a"}})

    pinpoint.tag_resource(ResourceArn=project.arn, TagsModel={"tags": {"team": "b"}})

    assert pinpoint.list_tags_for_resource(ResourceArn=project.arn)["TagsModel"]["tags"] == {"team": "b"}


def test_more_than_fifty_tags_is_a_bad_request(pinpoint, project):
    pinpoint.tag_resource(ResourceArn=project.arn, TagsModel={"tags": {f"k{i}": "v" for i in range(50)}})

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="at most 50"):
        pinpoint.tag_resource(ResourceArn=project.arn, TagsModel={"tags": {"one-more": "v"}})

    assert len(Project.objects.get(pk=project.pk).tags) == 50


@pytest.mark.parametrize("tags", [{"": "v"}, {"k" * 129: "v"}, {"k": "v" * 257}, {"k": "bad<char>"}])
def test_invalid_tags_are_a_bad_request(pinpoint, project, tags):
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        pinpoint.tag_resource(ResourceArn=project.arn, TagsModel={"tags": tags})

    assert Project.objects.get(pk=project.pk).tags == {}


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:mobiletargeting:us-east-1:000000000000:apps/" + "0" * 32,
        "arn:aws:mobiletargeting:eu-west-9:000000000000:apps/{id}",
        "arn:aws:mobiletargeting:us-east-1:999999999999:apps/{id}",
        "arn:aws:mobiletargeting:us-east-1:000000000000:apps/{id}/campaigns/" + "1" * 32,
        "not-an-arn",
    ],
)
def test_unknown_resources_are_not_found(pinpoint, project, arn):
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.list_tags_for_resource(ResourceArn=arn.format(id=project.id))


def test_another_tenants_resource_is_not_found(pinpoint):
    foreign = MembershipFactory(user=UserFactory(username="mallory")).project

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.tag_resource(ResourceArn=foreign.arn, TagsModel={"tags": {"x": "y"}})

    assert Project.objects.get(pk=foreign.pk).tags == {}


def test_viewer_cannot_tag(pinpoint_for):
    viewer = UserFactory(username="viewer")
    project = MembershipFactory(user=viewer, role=Role.VIEWER).project
    client = pinpoint_for(viewer)

    with pytest.raises(client.exceptions.ForbiddenException):
        client.tag_resource(ResourceArn=project.arn, TagsModel={"tags": {"x": "y"}})
    assert client.list_tags_for_resource(ResourceArn=project.arn)["TagsModel"]["tags"] == {}
