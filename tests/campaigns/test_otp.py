import re
from datetime import timedelta

import pytest
import time_machine
from botocore.exceptions import ClientError
from django.utils import timezone

from campaigns.models import Delivery, OneTimePassword
from projects.models import Role
from tests.campaigns import test_api_messages, test_transports_sms
from tests.campaigns.test_api_messages import enable
from tests.campaigns.test_transports_sms import twilio_sms
from tests.factories import MembershipFactory, UserFactory

providers_on_loopback = test_api_messages.providers_on_loopback
provider, twilio = test_transports_sms.provider, test_transports_sms.twilio  # Twilio played on loopback
PHONE = "+15555550100"
TEXT = re.compile(r"This is your One Time Password: (\d+) from ExampleCorp")


@pytest.fixture
def sms_on(project):
    enable(project, "SMS")


def send_otp(pinpoint, project, **params) -> dict:
    request = {
        "BrandName": "ExampleCorp",
        "Channel": "SMS",
        "DestinationIdentity": PHONE,
        "OriginationIdentity": "+15555550199",
        "ReferenceId": "login-1",
        **params,
    }
    return pinpoint.send_otp_message(ApplicationId=project.id, SendOTPMessageRequestParameters=request)[
        "MessageResponse"
    ]


def verify(pinpoint, project, otp: str, *, reference_id: str = "login-1", destination: str = PHONE) -> bool:
    response = pinpoint.verify_otp_message(
        ApplicationId=project.id,
        VerifyOTPMessageRequestParameters={"DestinationIdentity": destination, "Otp": otp, "ReferenceId": reference_id},
    )
    return response["VerificationResponse"]["Valid"]


def sent_code() -> str:
    """The code, read from the SMS delivery the outbox holds (what the phone would receive)."""
    return TEXT.fullmatch(Delivery.objects.latest("id").payload["Body"]).group(1)


def test_send_writes_an_sms_delivery_and_stores_only_a_hash(pinpoint, project, sms_on):
    response = send_otp(pinpoint, project, EntityId="E1", TemplateId="T1")

    code = sent_code()
    row = OneTimePassword.objects.get()
    delivery = Delivery.objects.get()
    assert response["ApplicationId"] == project.id
    assert response["Result"][PHONE]["MessageId"] == delivery.message_id
    assert len(code) == 6
    assert code not in row.code_hash
    assert (row.allowed_attempts, row.attempts) == (3, 0)
    assert timedelta(minutes=14) < row.expires_at - timezone.now() <= timedelta(minutes=15)
    assert (delivery.channel, delivery.address) == ("SMS", PHONE)
    assert delivery.payload["OriginationNumber"] == "+15555550199"
    assert (delivery.payload["MessageType"], delivery.payload["EntityId"]) == ("TRANSACTIONAL", "E1")


def test_the_right_code_verifies_once(pinpoint, project, sms_on):
    send_otp(pinpoint, project)
    code = sent_code()

    first = verify(pinpoint, project, code)
    second = verify(pinpoint, project, code)

    assert (first, second) == (True, False)


def test_wrong_guesses_use_up_the_allowed_attempts(pinpoint, project, sms_on):
    send_otp(pinpoint, project, AllowedAttempts=2)
    code = sent_code()
    wrong = "000000" if code != "000000" else "111111"

    guesses = [verify(pinpoint, project, wrong), verify(pinpoint, project, wrong), verify(pinpoint, project, code)]

    assert guesses == [False, False, False]
    assert OneTimePassword.objects.get().attempts == 2


def test_code_expires_after_the_validity_period(pinpoint, project, sms_on):
    send_otp(pinpoint, project, ValidityPeriod=5)
    code = sent_code()

    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=1), tick=False):
        late = verify(pinpoint, project, code)

    assert late is False


def test_reference_id_and_destination_must_match(pinpoint, project, sms_on):
    send_otp(pinpoint, project)
    code = sent_code()

    assert verify(pinpoint, project, code, reference_id="login-2") is False
    assert verify(pinpoint, project, code, destination="+15555550101") is False
    assert verify(pinpoint, project, code) is True


def test_a_new_code_replaces_the_earlier_one(pinpoint, project, sms_on):
    send_otp(pinpoint, project)
    first = sent_code()
    send_otp(pinpoint, project, CodeLength=8)
    second = sent_code()

    assert len(second) == 8
    assert OneTimePassword.objects.count() == 1
    assert verify(pinpoint, project, first) is False  # 6 digits: never the 8-digit code
    assert verify(pinpoint, project, second) is True


def test_another_project_cannot_verify_the_code(pinpoint, project, sms_on, pinpoint_for):
    other_user = UserFactory(username="bob")
    other = MembershipFactory(user=other_user, role=Role.OWNER).project
    send_otp(pinpoint, project)

    assert verify(pinpoint_for(other_user), other, sent_code()) is False
    assert verify(pinpoint, project, sent_code()) is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"CodeLength": 4}, "CodeLength must be from 5 to 8"),
        ({"ValidityPeriod": 61}, "ValidityPeriod must be from 5 to 60"),
        ({"AllowedAttempts": 6}, "AllowedAttempts must be from 1 to 5"),
        ({"Channel": "VOICE"}, "Channel must be SMS"),
        ({"BrandName": "x" * 21}, "BrandName"),
        ({"ReferenceId": "r" * 49}, "ReferenceId"),
        ({"DestinationIdentity": "5555550100"}, "E.164"),
        ({"Language": "de-DE"}, "English OTP text only"),
        ({"Language": "xx-XX"}, "Language must be one of"),
    ],
)
def test_invalid_requests_are_bad_requests(pinpoint, project, sms_on, params, message):
    with pytest.raises(ClientError) as error:
        send_otp(pinpoint, project, **params)

    assert error.value.response["Error"]["Code"] == "BadRequestException"
    assert message in error.value.response["Error"]["Message"]
    assert not OneTimePassword.objects.exists()


def test_sms_channel_must_be_enabled(pinpoint, project):
    with pytest.raises(ClientError) as error:
        send_otp(pinpoint, project)

    assert "UpdateSmsChannel" in error.value.response["Error"]["Message"]
    assert not Delivery.objects.exists()


def test_viewer_cannot_send_or_verify(pinpoint, project, sms_on, pinpoint_for):
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)

    with pytest.raises(ClientError) as sending:
        send_otp(pinpoint_for(viewer), project)
    with pytest.raises(ClientError) as verifying:
        verify(pinpoint_for(viewer), project, "123456")

    assert sending.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert verifying.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_code_reaches_the_phone_through_the_sms_provider(pinpoint, project, twilio):
    twilio_sms(project)

    result = send_otp(pinpoint, project)["Result"][PHONE]

    (request,) = twilio.received
    code = TEXT.fullmatch(request.form()["Body"]).group(1)
    assert (result["DeliveryStatus"], result["StatusCode"]) == ("SUCCESSFUL", 200)
    assert request.form()["To"] == PHONE
    assert request.form()["From"] == "+15555550199"  # OriginationIdentity
    assert Delivery.objects.get().provider_message_id == "SM0001"
    assert verify(pinpoint, project, code) is True
