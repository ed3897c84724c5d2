import json

import pytest

from projects.models import Role
from tests.conftest import send_raw, send_signed
from tests.factories import MembershipFactory, UserFactory


def validate(client, phone_number: str, iso_country_code: str | None = None) -> dict:
    request = {"PhoneNumber": phone_number}
    if iso_country_code is not None:
        request["IsoCountryCode"] = iso_country_code
    return client.phone_number_validate(NumberValidateRequest=request)["NumberValidateResponse"]


def test_a_german_mobile_number_has_its_type_carrier_and_zone(pinpoint, project):
    answer = validate(pinpoint, "+49 170 1234567")

    assert answer == {
        "Carrier": "T-Mobile",
        "CleansedPhoneNumberE164": "+491701234567",
        "CleansedPhoneNumberNational": "01701234567",
        "Country": "Germany",
        "CountryCodeIso2": "DE",
        "CountryCodeNumeric": "49",
        "OriginalPhoneNumber": "+49 170 1234567",
        "PhoneType": "MOBILE",
        "PhoneTypeCode": 0,
        "Timezone": "Europe/Berlin",
    }


def test_a_national_number_is_read_in_the_given_country(pinpoint, project):
    answer = validate(pinpoint, "020 7946 0958", "GB")

    assert answer["CleansedPhoneNumberE164"] == "+442079460958"
    assert answer["CleansedPhoneNumberNational"] == "02079460958"
    assert (answer["PhoneType"], answer["PhoneTypeCode"]) == ("LANDLINE", 1)
    assert (answer["City"], answer["Country"], answer["CountryCodeIso2"]) == ("London", "United Kingdom", "GB")
    assert answer["OriginalCountryCodeIso2"] == "GB"
    assert answer["Timezone"] == "Europe/London"


def test_a_us_number_is_mobile_since_the_plan_does_not_tell_and_has_no_carrier(pinpoint, project):
    answer = validate(pinpoint, "(650) 253-0000", "us")

    assert answer["CleansedPhoneNumberE164"] == "+16502530000"
    assert answer["CleansedPhoneNumberNational"] == "6502530000"
    assert (answer["PhoneType"], answer["PhoneTypeCode"]) == ("MOBILE", 0)
    assert (answer["CountryCodeIso2"], answer["CountryCodeNumeric"]) == ("US", "1")
    assert answer["City"] == "Mountain View, CA"
    assert answer["Timezone"] == "America/Los_Angeles"
    assert "Carrier" not in answer
    assert answer["OriginalCountryCodeIso2"] == "us"


def test_digits_that_begin_with_the_country_code_need_no_plus(pinpoint, project):
    answer = validate(pinpoint, "33612345678")

    assert answer["CleansedPhoneNumberE164"] == "+33612345678"
    assert (answer["PhoneType"], answer["Carrier"], answer["CountryCodeIso2"]) == ("MOBILE", "SFR", "FR")


def test_a_toll_free_number_is_other_and_a_zone_is_given_only_when_there_is_one(pinpoint, project):
    toll_free = validate(pinpoint, "+1 800 555 0100")
    australian_mobile = validate(pinpoint, "+61 412 345 678")

    assert (toll_free["PhoneType"], toll_free["PhoneTypeCode"]) == ("OTHER", 4)
    assert "Timezone" not in toll_free
    assert (australian_mobile["PhoneType"], australian_mobile["Carrier"]) == ("MOBILE", "Optus")
    assert "Timezone" not in australian_mobile


def test_a_number_outside_the_plan_is_invalid_with_what_the_parse_established(pinpoint, project):
    answer = validate(pinpoint, "+1 555 555 5555")

    assert answer == {
        "CleansedPhoneNumberE164": "+15555555555",
        "CleansedPhoneNumberNational": "5555555555",
        "CountryCodeIso2": "US",
        "CountryCodeNumeric": "1",
        "OriginalPhoneNumber": "+1 555 555 5555",
        "PhoneType": "INVALID",
        "PhoneTypeCode": 3,
    }


@pytest.mark.parametrize("text", ["not a number", "+", "12", "+999 1234567", "0" * 200])
def test_unreadable_input_is_invalid(pinpoint, project, text):
    answer = validate(pinpoint, text)

    assert (answer["PhoneType"], answer["PhoneTypeCode"]) == ("INVALID", 3)
    assert answer["OriginalPhoneNumber"] == text
    assert "Country" not in answer


def test_a_national_number_without_a_country_is_invalid(pinpoint, project):
    answer = validate(pinpoint, "030 123456")

    assert answer["PhoneType"] == "INVALID"
    assert "CleansedPhoneNumberE164" not in answer


def test_a_missing_phone_number_is_a_bad_request(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="PhoneNumber is required"):
        pinpoint.phone_number_validate(NumberValidateRequest={"IsoCountryCode": "US"})
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="PhoneNumber is required"):
        pinpoint.phone_number_validate(NumberValidateRequest={})


@pytest.mark.parametrize("code", ["USA", "U1", "XX"])
def test_an_unknown_country_code_is_a_bad_request(pinpoint, project, code):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="IsoCountryCode") as raised:
        validate(pinpoint, "2065550142", code)

    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Message"].startswith(f"IsoCountryCode '{code}'")


def test_members_of_the_wrong_type_are_a_bad_request(live_server, access_key, project):
    key_id, secret = access_key

    answer = send_signed(
        live_server,
        "POST",
        "/v1/phone/number/validate",
        key_id=key_id,
        secret=secret,
        body=json.dumps({"PhoneNumber": 4915112345678}).encode(),
    )

    assert answer.status == 400
    assert answer.headers["x-amzn-errortype"] == "BadRequestException"
    assert answer.json()["Message"] == "NumberValidateRequest.PhoneNumber must be a string."
    assert answer.json()["RequestID"]


def test_a_viewer_may_validate(pinpoint_for, project):
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)

    answer = validate(pinpoint_for(viewer), "+4930123456")

    assert (answer["PhoneType"], answer["City"]) == ("LANDLINE", "Berlin")


def test_a_user_without_memberships_is_forbidden(pinpoint_for, project):
    loner = pinpoint_for(UserFactory(username="loner"))

    with pytest.raises(loner.exceptions.ForbiddenException, match="members of a project"):
        validate(loner, "+4930123456")


def test_an_unsigned_request_is_refused(live_server, project):
    refused = send_raw(live_server, "POST", "/v1/phone/number/validate", body=b'{"PhoneNumber": "+4930123456"}')

    assert refused.status == 403
    assert refused.headers["x-amzn-errortype"] == "ForbiddenException"
