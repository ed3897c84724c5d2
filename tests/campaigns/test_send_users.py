import pytest
from botocore.exceptions import ClientError

from campaigns.models import Delivery
from projects.models import Role
from tests.campaigns import test_api_messages, test_deliveries
from tests.campaigns.test_api_messages import SIMPLE, enable
from tests.factories import MembershipFactory, UserFactory

smtp_sink = test_deliveries.smtp_sink  # the real SMTP server fixture
email_on = test_api_messages.email_on
providers_on_loopback = test_api_messages.providers_on_loopback


def endpoint(pinpoint, project, endpoint_id: str, channel: str, address: str, user_id: str) -> None:
    pinpoint.update_endpoint(
        ApplicationId=project.id,
        EndpointId=endpoint_id,
        EndpointRequest={
            "ChannelType": channel,
            "Address": address,
            "User": {"UserId": user_id, "UserAttributes": {"FirstName": [user_id.title()]}},
        },
    )


def send_users(pinpoint, project, users: dict, **request) -> dict:
    return pinpoint.send_users_messages(ApplicationId=project.id, SendUsersMessageRequest={"Users": users, **request})[
        "SendUsersMessageResponse"
    ]


def test_every_endpoint_of_each_user_gets_its_channels_message(pinpoint, project, email_on, smtp_sink):
    enable(project, "SMS")
    endpoint(pinpoint, project, "ann-mail", "EMAIL", "ann@example.org", "ann")
    endpoint(pinpoint, project, "ann-phone", "SMS", "+15555550100", "ann")
    endpoint(pinpoint, project, "bob-mail", "EMAIL", "bob@example.org", "bob")

    response = send_users(
        pinpoint,
        project,
        {"ann": {"Substitutions": {"Name": ["Annie"]}}, "bob": {}, "nobody": {}},
        MessageConfiguration={**SIMPLE, "SMSMessage": {"Body": "Hi {{User.UserAttributes.FirstName}} / {{Name}}"}},
    )

    result = response["Result"]
    assert response["ApplicationId"] == project.id
    assert set(result) == {"ann", "bob", "nobody"}
    assert set(result["ann"]) == {"ann-mail", "ann-phone"}
    assert result["nobody"] == {}
    assert result["ann"]["ann-mail"]["DeliveryStatus"] == "SUCCESSFUL"
    assert result["ann"]["ann-mail"]["Address"] == "ann@example.org"
    assert result["bob"]["bob-mail"]["DeliveryStatus"] == "SUCCESSFUL"
    assert sorted(m["Subject"] for m in smtp_sink.messages) == ["Hello Annie", "Hello friend"]
    sms = Delivery.objects.get(channel="SMS")
    assert (sms.address, sms.user_id, sms.endpoint_key) == ("+15555550100", "ann", "ann-phone")
    assert sms.payload["Body"] == "Hi Ann / Annie"  # the user's attributes, the user's substitutions


def test_opted_out_endpoint_of_a_user_is_reported_and_skipped(pinpoint, project, email_on, smtp_sink):
    endpoint(pinpoint, project, "ann-mail", "EMAIL", "ann@example.org", "ann")
    pinpoint.update_endpoint(ApplicationId=project.id, EndpointId="ann-mail", EndpointRequest={"OptOut": "ALL"})

    result = send_users(pinpoint, project, {"ann": {}}, MessageConfiguration=SIMPLE)["Result"]

    assert result["ann"]["ann-mail"]["DeliveryStatus"] == "OPT_OUT"
    assert smtp_sink.messages == []


def test_another_projects_users_are_not_reached(pinpoint, project, email_on, smtp_sink, pinpoint_for):
    other_user = UserFactory(username="bob")
    other = MembershipFactory(user=other_user, role=Role.OWNER).project
    endpoint(pinpoint_for(other_user), other, "theirs", "EMAIL", "secret@example.org", "ann")

    result = send_users(pinpoint, project, {"ann": {}}, MessageConfiguration=SIMPLE)["Result"]

    assert result == {"ann": {}}
    assert smtp_sink.messages == []


def test_more_than_a_hundred_users_is_a_bad_request(pinpoint, project, email_on):
    with pytest.raises(ClientError) as error:
        send_users(pinpoint, project, {f"u{i}": {} for i in range(101)}, MessageConfiguration=SIMPLE)

    assert error.value.response["Error"]["Code"] == "BadRequestException"
    assert "at most 100 users" in error.value.response["Error"]["Message"]


def test_users_are_required(pinpoint, project, email_on):
    with pytest.raises(ClientError) as error:
        send_users(pinpoint, project, {}, MessageConfiguration=SIMPLE)

    assert error.value.response["Error"]["Code"] == "BadRequestException"
