import pytest
from botocore.exceptions import ClientError

from campaigns.models import Delivery, DeliveryStatus
from projects.models import Role
from tests.campaigns import test_deliveries
from tests.factories import MembershipFactory, UserFactory

smtp_sink = test_deliveries.smtp_sink  # the real SMTP server fixture

EMAIL_CHANNEL = {"Enabled": True, "FromAddress": "news@example.com", "Identity": "example.com"}
SIMPLE = {
    "EmailMessage": {
        "SimpleEmail": {
            "Subject": {"Data": "Hello {{Name}}"},
            "TextPart": {"Data": "Hi {{Name}}"},
            "HtmlPart": {"Data": "<p>Hi {{Name}}</p>"},
        },
        "Substitutions": {"Name": ["friend"]},
    }
}


@pytest.fixture
def email_on(pinpoint, project):
    pinpoint.update_email_channel(ApplicationId=project.id, EmailChannelRequest=EMAIL_CHANNEL)


def endpoint(pinpoint, project, endpoint_id: str, address: str, **extra) -> None:
    request = {"ChannelType": "EMAIL", "Address": address, **extra}
    pinpoint.update_endpoint(ApplicationId=project.id, EndpointId=endpoint_id, EndpointRequest=request)


def test_send_to_an_address(pinpoint, project, email_on, smtp_sink):
    response = pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={
            "Addresses": {"ann@example.org": {"ChannelType": "EMAIL", "Substitutions": {"Name": ["Ann"]}}},
            "MessageConfiguration": SIMPLE,
        },
    )["MessageResponse"]

    result = response["Result"]["ann@example.org"]
    sent = smtp_sink.messages[0]
    assert response["ApplicationId"] == project.id
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("SUCCESSFUL", 200)
    assert sent["Message-ID"] == f"<{result['MessageId']}>"
    assert sent["Subject"] == "Hello Ann"
    assert sent["From"] == "news@example.com"
    assert sent.get_body(("html",)).get_content().strip() == "<p>Hi Ann</p>"
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_send_to_an_endpoint_with_a_template(pinpoint, project, email_on, smtp_sink):
    pinpoint.create_email_template(
        TemplateName="welcome",
        EmailTemplateRequest={
            "Subject": "Welcome {{User.UserAttributes.FirstName}}",
            "TextPart": "Your plan: {{Attributes.Plan}}. {{Greeting}}",
            "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "there", "Greeting": "Bye"}',
        },
    )
    endpoint(pinpoint, project, "ep-1", "ada@example.org", Attributes={"Plan": ["gold"]})

    response = pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={
            "Endpoints": {"ep-1": {"Substitutions": {"Greeting": ["Cheers"]}}},
            "MessageConfiguration": {"EmailMessage": {"Substitutions": {"Greeting": ["Hello"]}}},
            "TemplateConfiguration": {"EmailTemplate": {"Name": "welcome"}},
        },
    )["MessageResponse"]

    result = response["EndpointResult"]["ep-1"]
    sent = smtp_sink.messages[0]
    assert (result["DeliveryStatus"], result["Address"]) == ("SUCCESSFUL", "ada@example.org")
    assert sent["Subject"] == "Welcome there"  # the template's default: the user has no FirstName
    assert sent.get_content().strip() == "Your plan: gold. Cheers"  # endpoint > message > template


def test_opted_out_endpoint_gets_opt_out_and_no_email(pinpoint, project, email_on, smtp_sink):
    endpoint(pinpoint, project, "ep-1", "ada@example.org", OptOut="ALL")

    response = pinpoint.send_messages(
        ApplicationId=project.id, MessageRequest={"Endpoints": {"ep-1": {}}, "MessageConfiguration": SIMPLE}
    )["MessageResponse"]

    assert response["EndpointResult"]["ep-1"]["DeliveryStatus"] == "OPT_OUT"
    assert smtp_sink.messages == []
    assert not Delivery.objects.exists()


def test_refused_address_is_a_permanent_failure(pinpoint, project, email_on, smtp_sink):
    smtp_sink.refuse.add("gone@example.org")

    response = pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={"Addresses": {"gone@example.org": {"ChannelType": "EMAIL"}}, "MessageConfiguration": SIMPLE},
    )["MessageResponse"]

    result = response["Result"]["gone@example.org"]
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("PERMANENT_FAILURE", 550)
    assert Delivery.objects.get().status == DeliveryStatus.FAILED_PERMANENT


def test_server_down_answers_temporary_failure_and_keeps_the_row(pinpoint, project, email_on, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", test_deliveries.free_port()

    response = pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={"Addresses": {"ann@example.org": {"ChannelType": "EMAIL"}}, "MessageConfiguration": SIMPLE},
    )["MessageResponse"]

    assert response["Result"]["ann@example.org"]["DeliveryStatus"] == "TEMPORARY_FAILURE"
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED


def test_unknown_and_duplicate_recipients(pinpoint, project, email_on, smtp_sink):
    endpoint(pinpoint, project, "ep-1", "ann@example.org")

    response = pinpoint.send_messages(
        ApplicationId=project.id,
        MessageRequest={
            "Addresses": {"ann@example.org": {"ChannelType": "EMAIL"}},
            "Endpoints": {"ep-1": {}, "nobody": {}},
            "MessageConfiguration": SIMPLE,
        },
    )["MessageResponse"]

    assert response["Result"]["ann@example.org"]["DeliveryStatus"] == "SUCCESSFUL"
    assert response["EndpointResult"]["ep-1"]["DeliveryStatus"] == "DUPLICATE"
    assert response["EndpointResult"]["nobody"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert len(smtp_sink.messages) == 1


def test_other_channels_are_refused_whole(pinpoint, project, email_on, smtp_sink):
    with pytest.raises(ClientError) as sms:
        pinpoint.send_messages(
            ApplicationId=project.id,
            MessageRequest={
                "Addresses": {"+15555550100": {"ChannelType": "SMS"}, "ann@example.org": {"ChannelType": "EMAIL"}},
                "MessageConfiguration": SIMPLE,
            },
        )
    with pytest.raises(ClientError) as push:
        pinpoint.send_messages(
            ApplicationId=project.id,
            MessageRequest={
                "Addresses": {"ann@example.org": {"ChannelType": "EMAIL"}},
                "MessageConfiguration": {**SIMPLE, "SMSMessage": {"Body": "hi"}},
            },
        )

    for error in (sms, push):
        assert error.value.response["Error"]["Code"] == "BadRequestException"
        assert "EMAIL only so far" in error.value.response["Error"]["Message"]
    assert smtp_sink.messages == []


def test_disabled_email_channel_is_a_bad_request(pinpoint, project, smtp_sink):
    with pytest.raises(ClientError) as error:
        pinpoint.send_messages(
            ApplicationId=project.id,
            MessageRequest={"Addresses": {"a@example.org": {"ChannelType": "EMAIL"}}, "MessageConfiguration": SIMPLE},
        )

    assert error.value.response["Error"]["Code"] == "BadRequestException"
    assert "EMAIL channel" in error.value.response["Error"]["Message"]


def test_another_projects_endpoint_is_not_found(pinpoint, project, email_on, smtp_sink, pinpoint_for):
    other_user = UserFactory(username="bob")
    other = MembershipFactory(user=other_user, role=Role.OWNER).project
    endpoint(pinpoint_for(other_user), other, "theirs", "secret@example.org")

    response = pinpoint.send_messages(
        ApplicationId=project.id, MessageRequest={"Endpoints": {"theirs": {}}, "MessageConfiguration": SIMPLE}
    )["MessageResponse"]
    with pytest.raises(ClientError) as foreign:
        pinpoint.send_messages(
            ApplicationId=other.id, MessageRequest={"Endpoints": {"theirs": {}}, "MessageConfiguration": SIMPLE}
        )

    assert response["EndpointResult"]["theirs"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "Address" not in response["EndpointResult"]["theirs"]
    assert foreign.value.response["Error"]["Code"] == "NotFoundException"
    assert smtp_sink.messages == []


def test_viewer_cannot_send(pinpoint, project, email_on, smtp_sink, pinpoint_for):
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)

    with pytest.raises(ClientError) as error:
        pinpoint_for(viewer).send_messages(
            ApplicationId=project.id,
            MessageRequest={"Addresses": {"a@example.org": {"ChannelType": "EMAIL"}}, "MessageConfiguration": SIMPLE},
        )

    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert smtp_sink.messages == []
