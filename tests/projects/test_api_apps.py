import re

import pytest

from projects.models import ApplicationSettings, Membership, Project, Role
from tests.conftest import send_signed
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_app_returns_pinpoint_application_response(pinpoint, settings):
    response = pinpoint.create_app(CreateApplicationRequest={"Name": "Shop", "tags": {"team": "growth"}})

    app = response["ApplicationResponse"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert re.fullmatch(r"[0-9a-f]{32}", app["Id"])
    assert (
        app["Arn"] == f"arn:aws:mobiletargeting:{settings.ENGAGE_REGION}:{settings.ENGAGE_ACCOUNT_ID}:apps/{app['Id']}"
    )
    assert app["Name"] == "Shop"
    assert app["tags"] == {"team": "growth"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", app["CreationDate"])


def test_creator_becomes_owner_with_default_settings(pinpoint, user):
    app = pinpoint.create_app(CreateApplicationRequest={"Name": "Shop"})["ApplicationResponse"]

    assert Membership.objects.get(project_id=app["Id"]).user == user
    assert Membership.objects.get(project_id=app["Id"]).role == Role.OWNER
    assert ApplicationSettings.objects.filter(project_id=app["Id"]).exists()


def test_create_app_without_name_is_a_bad_request(pinpoint):
    with pytest.raises(pinpoint.exceptions.BadRequestException) as error:
        pinpoint.create_app(CreateApplicationRequest={"Name": ""})

    assert "Name" in error.value.response["Error"]["Message"]
    assert Project.objects.count() == 0


def test_create_app_with_reserved_tag_prefix_is_a_bad_request(pinpoint):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="reserved prefix"):
        pinpoint.create_app(CreateApplicationRequest={"Name": "Shop", "tags": {"aws:owner": "x"}})

    assert Project.objects.count() == 0


def test_get_app_round_trips(pinpoint):
    created = pinpoint.create_app(CreateApplicationRequest={"Name": "Shop"})["ApplicationResponse"]

    fetched = pinpoint.get_app(ApplicationId=created["Id"])["ApplicationResponse"]

    assert fetched == {**created, "tags": {}}


def test_get_unknown_app_is_not_found(pinpoint):
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_app(ApplicationId="0" * 32)


def test_another_tenants_app_is_not_found(pinpoint):
    foreign = MembershipFactory(user=UserFactory(username="mallory")).project

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_app(ApplicationId=foreign.id)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.delete_app(ApplicationId=foreign.id)
    assert Project.objects.filter(pk=foreign.pk).exists()


def test_get_apps_lists_only_the_callers_projects(pinpoint, project):
    MembershipFactory(user=UserFactory(username="mallory"))

    apps = pinpoint.get_apps()["ApplicationsResponse"]

    assert [a["Id"] for a in apps["Item"]] == [project.id]
    assert "NextToken" not in apps


def test_get_apps_pages_with_next_token(pinpoint, user):
    ids = [MembershipFactory(user=user).project.id for _ in range(5)]

    first = pinpoint.get_apps(PageSize="2")["ApplicationsResponse"]
    second = pinpoint.get_apps(PageSize="2", Token=first["NextToken"])["ApplicationsResponse"]
    third = pinpoint.get_apps(PageSize="2", Token=second["NextToken"])["ApplicationsResponse"]

    seen = [a["Id"] for page in (first, second, third) for a in page["Item"]]
    assert seen == ids
    assert "NextToken" not in third


@pytest.mark.parametrize(("page_size", "token"), [("0", None), ("abc", None), ("5000", None), ("2", "not-a-token")])
def test_get_apps_with_bad_paging_is_a_bad_request(pinpoint, project, page_size, token):
    kwargs = {"PageSize": page_size, **({"Token": token} if token else {})}

    with pytest.raises(pinpoint.exceptions.BadRequestException):
        pinpoint.get_apps(**kwargs)


def test_get_apps_query_count_does_not_grow_with_projects(pinpoint, user, django_assert_max_num_queries):
    for _ in range(20):
        MembershipFactory(user=user)

    with django_assert_max_num_queries(6):
        pinpoint.get_apps()


def test_delete_app_deletes_the_project_and_everything_of_it(pinpoint):
    app = pinpoint.create_app(CreateApplicationRequest={"Name": "Doomed"})["ApplicationResponse"]

    deleted = pinpoint.delete_app(ApplicationId=app["Id"])["ApplicationResponse"]

    assert deleted["Id"] == app["Id"]
    assert deleted["Name"] == "Doomed"
    assert not Project.objects.filter(pk=app["Id"]).exists()
    assert not ApplicationSettings.objects.filter(project_id=app["Id"]).exists()
    assert not Membership.objects.filter(project_id=app["Id"]).exists()


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_only_owners_delete_apps(pinpoint_for, role):
    member = UserFactory(username="member")
    project = MembershipFactory(user=member, role=role).project
    client = pinpoint_for(member)

    with pytest.raises(client.exceptions.ForbiddenException):
        client.delete_app(ApplicationId=project.id)

    assert Project.objects.filter(pk=project.pk).exists()


def test_superuser_sees_every_project(pinpoint_for):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    project = ProjectFactory()

    apps = pinpoint_for(admin).get_apps()["ApplicationsResponse"]["Item"]

    assert [a["Id"] for a in apps] == [project.id]


def test_the_last_page_of_apps_leaves_next_token_out_of_the_json(live_server, project, access_key):
    key_id, secret = access_key

    answer = send_signed(live_server, "GET", "/v1/apps", key_id=key_id, secret=secret)

    assert answer.status == 200
    assert "NextToken" not in answer.json()  # Pinpoint leaves it out; null is no string to the model
