import pytest
from botocore.exceptions import ClientError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audience.models import Event
from campaigns.channels import channel_update
from campaigns.messages import MessageSpec, Recipient, messages_send
from campaigns.models import Delivery, DeliveryStatus
from projects.models import Role
from tests.campaigns import test_deliveries, test_transports_sms
from tests.campaigns.recipients import make_endpoint
from tests.campaigns.test_transports_sms import twilio_sms
from tests.factories import MembershipFactory, UserFactory

smtp_sink = test_deliveries.smtp_sink  # the real SMTP server fixture
provider, twilio = test_transports_sms.provider, test_transports_sms.twilio  # Twilio played on loopback

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


@pytest.fixture(autouse=True)
def providers_on_loopback(settings):
    """Every provider URL at a closed loopback port: a test here never reaches outside, whatever
    transports are registered (these tests check what is rendered and stored, not the providers)."""
    closed = f"http://127.0.0.1:{test_deliveries.free_port()}"
    settings.ENGAGE_TWILIO_API_URL = settings.ENGAGE_FCM_URL = closed
    settings.ENGAGE_APNS_URL = settings.ENGAGE_APNS_SANDBOX_URL = closed
    settings.ENGAGE_SMS_WEBHOOK_URL = closed


@pytest.fixture
def email_on(pinpoint, project):
    pinpoint.update_email_channel(ApplicationId=project.id, EmailChannelRequest=EMAIL_CHANNEL)


def endpoint(pinpoint, project, endpoint_id: str, address: str, **extra) -> None:
    request = {"ChannelType": "EMAIL", "Address": address, **extra}  # ChannelType in extra wins
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


def enable(project, kind: str, **settings) -> None:
    channel_update(project, kind, {"Enabled": True, **settings}, by="test")


def send(pinpoint, project, **request) -> dict:
    return pinpoint.send_messages(ApplicationId=project.id, MessageRequest=request)["MessageResponse"]


def test_sms_address_takes_its_channel_message_and_the_channel_sender(pinpoint, project):
    enable(project, "SMS", SenderId="Engage")

    send(
        pinpoint,
        project,
        Addresses={"+15555550100": {"ChannelType": "SMS", "Substitutions": {"Name": ["Ann"]}}},
        MessageConfiguration={
            "DefaultMessage": {"Body": "default body"},
            "SMSMessage": {
                "Body": "Hi {{Name}}, code {{Code}} & more",
                "MessageType": "TRANSACTIONAL",
                "Substitutions": {"Name": ["friend"], "Code": ["42"]},
            },
        },
    )

    row = Delivery.objects.get()
    assert (row.channel, row.address) == ("SMS", "+15555550100")
    assert row.payload["Body"] == "Hi Ann, code 42 & more"  # address > message; text parts are not escaped
    assert (row.payload["SenderId"], row.payload["MessageType"]) == ("Engage", "TRANSACTIONAL")
    assert "Substitutions" not in row.payload


def test_default_message_serves_channels_without_their_own(pinpoint, project):
    enable(project, "SMS")
    enable(project, "VOICE")

    send(
        pinpoint,
        project,
        Addresses={"+15555550100": {"ChannelType": "SMS"}, "+15555550101": {"ChannelType": "VOICE"}},
        MessageConfiguration={
            "DefaultMessage": {"Body": "Hello {{Who}}", "Substitutions": {"Who": ["you"]}},
            "VoiceMessage": {"LanguageCode": "en-US", "VoiceId": "Joanna"},
        },
    )

    sms, voice = Delivery.objects.order_by("id")
    assert sms.payload == {"Body": "Hello you"}
    assert voice.payload == {"Body": "Hello you", "LanguageCode": "en-US", "VoiceId": "Joanna"}


def test_push_endpoint_layers_platform_over_default_push_over_default(pinpoint, project):
    enable(project, "GCM", ApiKey="server-key")
    endpoint(pinpoint, project, "phone-1", "device-token-1", ChannelType="GCM", Attributes={"Team": ["Reds"]})

    send(
        pinpoint,
        project,
        Endpoints={"phone-1": {"TitleOverride": "Go {{Attributes.Team}}!", "Context": {"k": "v"}}},
        Context={"trace": "t1"},
        MessageConfiguration={
            "DefaultMessage": {"Body": "default body"},
            "DefaultPushNotificationMessage": {
                "Title": "Match day",
                "Body": "push body",
                "Action": "URL",
                "Url": "https://example.com/{{Attributes.Team}}",
                "Data": {"match": "7"},
            },
            "GCMMessage": {"Body": "{{Attributes.Team}} play at 8", "Priority": "high", "TimeToLive": 60},
        },
    )

    row = Delivery.objects.get()
    assert (row.channel, row.address, row.endpoint_key) == ("GCM", "device-token-1", "phone-1")
    assert row.payload == {
        "Title": "Go Reds!",
        "Body": "Reds play at 8",
        "Action": "URL",
        "Url": "https://example.com/Reds",
        "Data": {"match": "7"},
        "Priority": "high",
        "TimeToLive": 60,
        "Context": {"trace": "t1", "k": "v"},
    }


def test_push_template_platform_part_over_its_default_part(pinpoint, project):
    enable(project, "GCM", ApiKey="server-key")
    pinpoint.create_push_template(
        TemplateName="match",
        PushNotificationTemplateRequest={
            "Default": {"Title": "Hello {{Name}}", "Body": "default part", "Action": "OPEN_APP"},
            "GCM": {"Body": "android part for {{Name}}", "ImageUrl": "https://example.com/i.png"},
            "DefaultSubstitutions": '{"Name": "fan"}',
        },
    )

    send(
        pinpoint,
        project,
        Addresses={"device-token-2": {"ChannelType": "GCM"}},
        MessageConfiguration={},
        TemplateConfiguration={"PushTemplate": {"Name": "match"}},
    )

    assert Delivery.objects.get().payload == {
        "Title": "Hello fan",
        "Body": "android part for fan",
        "Action": "OPEN_APP",
        "ImageUrl": "https://example.com/i.png",
    }


def test_channel_without_transport_answers_unsupported_channel(pinpoint, project):
    enable(project, "ADM", ClientId="client", ClientSecret="secret")

    result = send(
        pinpoint,
        project,
        Addresses={"adm-token": {"ChannelType": "ADM"}},
        MessageConfiguration={"ADMMessage": {"Title": "Hi", "Body": "There"}},
    )["Result"]["adm-token"]

    assert result["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert result["StatusMessage"].startswith("UNSUPPORTED_CHANNEL: ")
    assert Delivery.objects.get().status == DeliveryStatus.FAILED_PERMANENT


def test_address_on_a_disabled_channel_is_a_bad_request_naming_the_operation(pinpoint, project, email_on):
    with pytest.raises(ClientError) as error:
        send(
            pinpoint,
            project,
            Addresses={"+15555550100": {"ChannelType": "SMS"}, "ann@example.org": {"ChannelType": "EMAIL"}},
            MessageConfiguration={**SIMPLE, "SMSMessage": {"Body": "hi"}},
        )

    assert error.value.response["Error"]["Code"] == "BadRequestException"
    assert "UpdateSmsChannel" in error.value.response["Error"]["Message"]
    assert not Delivery.objects.exists()


def test_address_with_no_message_for_its_channel_is_a_bad_request(pinpoint, project, email_on):
    enable(project, "SMS")

    with pytest.raises(ClientError) as error:
        send(pinpoint, project, Addresses={"+15555550100": {"ChannelType": "SMS"}}, MessageConfiguration=SIMPLE)

    assert "no SMS message" in error.value.response["Error"]["Message"]


def test_endpoint_on_a_disabled_channel_fails_alone(pinpoint, project, email_on, smtp_sink):
    endpoint(pinpoint, project, "phone-1", "device-token-1", ChannelType="GCM")

    response = send(
        pinpoint,
        project,
        Addresses={"ann@example.org": {"ChannelType": "EMAIL"}},
        Endpoints={"phone-1": {}},
        MessageConfiguration={**SIMPLE, "GCMMessage": {"Body": "hi"}},
    )

    failed = response["EndpointResult"]["phone-1"]
    assert (failed["DeliveryStatus"], failed["Address"]) == ("PERMANENT_FAILURE", "device-token-1")
    assert "UpdateGcmChannel" in failed["StatusMessage"]
    assert response["Result"]["ann@example.org"]["DeliveryStatus"] == "SUCCESSFUL"
    assert [m["To"] for m in smtp_sink.messages] == ["ann@example.org"]


def test_custom_endpoints_and_bad_phone_numbers_fail_per_recipient(pinpoint, project):
    enable(project, "SMS")
    endpoint(pinpoint, project, "hook-1", "https://example.com/hook", ChannelType="CUSTOM")

    response = send(
        pinpoint,
        project,
        Addresses={"555-0100": {"ChannelType": "SMS"}},
        Endpoints={"hook-1": {}},
        MessageConfiguration={"SMSMessage": {"Body": "hi"}},
    )

    assert response["Result"]["555-0100"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "E.164" in response["Result"]["555-0100"]["StatusMessage"]
    assert response["EndpointResult"]["hook-1"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "CUSTOM" in response["EndpointResult"]["hook-1"]["StatusMessage"]
    assert not Delivery.objects.exists()


def test_same_phone_number_twice_is_a_duplicate(pinpoint, project):
    enable(project, "SMS")
    endpoint(pinpoint, project, "mobile-1", "+15555550100", ChannelType="SMS")

    response = send(
        pinpoint,
        project,
        Addresses={"+15555550100": {"ChannelType": "SMS"}},
        Endpoints={"mobile-1": {}},
        MessageConfiguration={"SMSMessage": {"Body": "hi"}},
    )

    assert response["EndpointResult"]["mobile-1"]["DeliveryStatus"] == "DUPLICATE"
    assert Delivery.objects.count() == 1


def test_more_than_a_hundred_recipients_is_a_bad_request(pinpoint, project, email_on):
    addresses = {f"user{i}@example.org": {"ChannelType": "EMAIL"} for i in range(101)}

    with pytest.raises(ClientError) as error:
        send(pinpoint, project, Addresses=addresses, MessageConfiguration=SIMPLE)

    assert "at most 100" in error.value.response["Error"]["Message"]
    assert not Delivery.objects.exists()


def test_sms_reaches_the_provider_and_answers_with_its_outcome(pinpoint, project, twilio):
    twilio_sms(project)
    twilio.answer(  # addresses are sent first, then endpoints
        (400, {"Content-Type": "application/json"}, {"code": 21211, "message": "Invalid 'To' Phone Number"}),
        (201, {"Content-Type": "application/json"}, {"sid": "SM0001", "status": "queued"}),
    )
    endpoint(pinpoint, project, "mobile-1", "+15555550100", ChannelType="SMS", Attributes={"Plan": ["gold"]})

    response = send(
        pinpoint,
        project,
        Endpoints={"mobile-1": {}},
        Addresses={"+15555550123": {"ChannelType": "SMS"}},
        MessageConfiguration={"SMSMessage": {"Body": "Your {{Attributes.Plan}} plan renews"}},
    )

    sent, refused = response["EndpointResult"]["mobile-1"], response["Result"]["+15555550123"]
    assert (sent["DeliveryStatus"], sent["StatusCode"]) == ("SUCCESSFUL", 200)
    assert twilio.received[1].form()["Body"] == "Your gold plan renews"
    assert refused["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert Delivery.objects.get(address="+15555550100").provider_message_id == "SM0001"
    assert Event.objects.get(event_type="_SMS.BUFFERED").endpoint_key == "mobile-1"


def test_provider_throttling_answers_throttled_and_keeps_the_row_for_retry(pinpoint, project, twilio):
    twilio_sms(project)
    twilio.answer((429, {"Content-Type": "application/json"}, {"code": 20429, "message": "Too Many Requests"}))

    result = send(
        pinpoint,
        project,
        Addresses={"+15555550100": {"ChannelType": "SMS"}},
        MessageConfiguration={"SMSMessage": {"Body": "hi"}},
    )["Result"]["+15555550100"]

    assert (result["DeliveryStatus"], result["StatusCode"]) == ("THROTTLED", 429)
    assert "do not resend" in result["StatusMessage"]
    row = Delivery.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.QUEUED, 1)


def test_a_message_that_fails_to_render_is_a_permanent_failure_with_an_event(pinpoint, project, email_on, smtp_sink):
    endpoint(pinpoint, project, "ep-1", "ada@example.org")
    broken = {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "Hi {{noSuchHelper Name}}"}}}}

    result = send(pinpoint, project, Endpoints={"ep-1": {}}, MessageConfiguration=broken)["EndpointResult"]["ep-1"]

    assert result["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert result["StatusMessage"].startswith("Rendering failed")
    assert Event.objects.get(project=project).event_type == "_email.rendering_failure"
    assert smtp_sink.messages == []
    assert not Delivery.objects.exists()


def test_queries_do_not_grow_with_the_recipients(project, smtp_sink):
    enable(project, "EMAIL", FromAddress="news@example.com", Identity="example.com")
    for i in range(30):
        make_endpoint(project, f"ep-{i}", f"user{i}@example.org")
    spec = MessageSpec(config={"EmailMessage": {"Body": "Hi {{Address}}"}, "DefaultMessage": {"Body": "x"}})

    def queries(count: int) -> int:
        recipients = [Recipient(key=f"ep-{i}", is_endpoint=True) for i in range(count)]
        with CaptureQueriesContext(connection) as captured:
            messages_send(project, recipients, spec, request_id="r")
        return len(captured)

    assert queries(3) == queries(30)
    assert len(smtp_sink.messages) == 33
