import re

import pytest

from projects.models import Project, Role

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_app_returns_pinpoint_application_response(pinpoint, user, settings):
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
    assert Project.objects.get(pk=app["Id"]).memberships.get().role == Role.OWNER


def test_get_app_round_trips(pinpoint):
    created = pinpoint.create_app(CreateApplicationRequest={"Name": "Shop"})["ApplicationResponse"]

    fetched = pinpoint.get_app(ApplicationId=created["Id"])["ApplicationResponse"]

    assert fetched == {**created, "tags": {}}
