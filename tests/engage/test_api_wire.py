"""The Pinpoint wire layer as clients meet it: authentication, error shape, unbuilt operations."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from projects.models import AccessKey, Project
from projects.services import access_key_revoke
from tests.conftest import make_client, send_raw, send_signed

pytestmark = pytest.mark.django_db(transaction=True)


def assert_pinpoint_error(response, status: int, error_type: str) -> dict:
    body = response.json()
    assert response.status == status
    assert response.headers["x-amzn-errortype"] == error_type
    assert set(body) == {"Message", "RequestID"}
    assert body["RequestID"] == response.headers["x-amzn-requestid"]
    return body


def test_wrong_secret_is_forbidden(live_server, access_key):
    key_id, _ = access_key
    client = make_client(live_server, key_id, "x" * 40)

    with pytest.raises(client.exceptions.ForbiddenException, match="signature we calculated does not match"):
        client.get_apps()


def test_unknown_key_is_forbidden(live_server, transactional_db):
    client = make_client(live_server, "EKIAUNKNOWNUNKNOWN00", "x" * 40)

    with pytest.raises(client.exceptions.ForbiddenException, match="security token included in the request is invalid"):
        client.get_apps()


def test_revoked_key_is_forbidden(live_server, access_key):
    key_id, secret = access_key
    access_key_revoke(AccessKey.objects.get(access_key_id=key_id))
    client = make_client(live_server, key_id, secret)

    with pytest.raises(client.exceptions.ForbiddenException):
        client.get_apps()


def test_key_of_a_deactivated_user_is_forbidden(live_server, access_key, user):
    user.is_active = False
    user.save()
    client = make_client(live_server, *access_key)

    with pytest.raises(client.exceptions.ForbiddenException):
        client.get_apps()


@pytest.mark.parametrize("minutes", [16, -16])
def test_clock_skew_over_fifteen_minutes_is_forbidden(live_server, access_key, minutes):
    key_id, secret = access_key

    response = send_signed(
        live_server, "GET", "/v1/apps", key_id=key_id, secret=secret, at=timezone.now() + timedelta(minutes=minutes)
    )

    body = assert_pinpoint_error(response, 403, "ForbiddenException")
    assert body["Message"].startswith("Signature ")


def test_clock_skew_within_fifteen_minutes_is_accepted(live_server, access_key):
    key_id, secret = access_key

    response = send_signed(
        live_server, "GET", "/v1/apps", key_id=key_id, secret=secret, at=timezone.now() - timedelta(minutes=14)
    )

    assert response.status == 200


def test_tampered_body_is_forbidden_and_changes_nothing(live_server, access_key):
    key_id, secret = access_key

    response = send_signed(
        live_server,
        "POST",
        "/v1/apps",
        key_id=key_id,
        secret=secret,
        body=b'{"Name": "evil"}',
        signed_body=b'{"Name": "good"}',
        headers={"Content-Type": "application/json"},
    )

    assert_pinpoint_error(response, 403, "ForbiddenException")
    assert Project.objects.count() == 0


def test_unsigned_request_is_forbidden(live_server, transactional_db):
    response = send_raw(live_server, "GET", "/v1/apps")

    body = assert_pinpoint_error(response, 403, "ForbiddenException")
    assert body["Message"] == "Missing Authentication Token"


def test_successful_responses_carry_a_request_id(pinpoint):
    response = pinpoint.get_apps()

    assert response["ResponseMetadata"]["RequestId"]


def test_use_is_recorded_on_the_key(pinpoint, user):
    pinpoint.get_apps()

    assert AccessKey.objects.get(user=user).last_used_at is not None


def test_not_yet_built_operation_answers_clearly(pinpoint, project):
    with pytest.raises(
        pinpoint.exceptions.MethodNotAllowedException,
        match="does not support the Pinpoint operation GetRecommenderConfigurations",
    ):
        pinpoint.get_recommender_configurations()


def test_unknown_route_is_not_found_in_pinpoint_shape(live_server, access_key):
    key_id, secret = access_key

    response = send_signed(live_server, "GET", "/v1/no-such-thing", key_id=key_id, secret=secret)

    assert_pinpoint_error(response, 404, "NotFoundException")


def test_wrong_method_on_a_known_resource_is_method_not_allowed(live_server, access_key, project):
    key_id, secret = access_key

    response = send_signed(live_server, "PATCH", f"/v1/apps/{project.id}", key_id=key_id, secret=secret)

    body = assert_pinpoint_error(response, 405, "MethodNotAllowedException")
    assert "DELETE, GET" in body["Message"]


def test_invalid_json_is_a_bad_request(live_server, access_key):
    key_id, secret = access_key

    response = send_signed(
        live_server,
        "POST",
        "/v1/apps",
        key_id=key_id,
        secret=secret,
        body=b'{"Name": ',
        headers={"Content-Type": "application/json"},
    )

    body = assert_pinpoint_error(response, 400, "BadRequestException")
    assert "not valid JSON" in body["Message"]


def test_body_over_seven_megabytes_is_payload_too_large(live_server, access_key):
    key_id, secret = access_key
    huge = json.dumps({"Name": "x", "tags": {"k": "v" * (7 * 1024 * 1024)}}).encode()

    response = send_signed(
        live_server,
        "POST",
        "/v1/apps",
        key_id=key_id,
        secret=secret,
        body=huge,
        headers={"Content-Type": "application/json"},
    )

    assert_pinpoint_error(response, 413, "PayloadTooLargeException")
    assert Project.objects.count() == 0


def test_browser_session_reads_the_api(client, user, project):
    client.force_login(user)

    response = client.get("/v1/apps")

    assert response.status_code == 200
    assert [a["Id"] for a in response.json()["Item"]] == [project.id]


def test_browser_session_writes_need_the_csrf_token(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post("/v1/apps", data={"Name": "x"}, content_type="application/json")

    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert "CSRF" in response.json()["Message"]
    assert Project.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/v1/apps/%00", "path"),
        ("/v1/apps/{app}/endpoints/a%00b", "path"),
        ("/v1/templates/a%00b/email", "path"),
        ("/v1/apps/{app}/segments?page-size=%00", "query string"),
    ],
)
def test_a_nul_in_the_path_or_query_is_a_bad_request(live_server, access_key, project, path, where):
    # PostgreSQL refuses NUL in any text it compares: these were 500s there (found by tests/schema).
    answer = send_signed(live_server, "GET", path.format(app=project.id), key_id=access_key[0], secret=access_key[1])

    assert answer.status == 400
    assert answer.headers["x-amzn-errortype"] == "BadRequestException"
    assert answer.json()["Message"] == f"The request {where} contains a NUL character."


def test_a_nul_in_a_json_string_is_a_bad_request_and_stores_nothing(live_server, access_key, project):
    body = json.dumps({"Name": "a\x00b", "Dimensions": {}}).encode()

    answer = send_signed(
        live_server, "POST", f"/v1/apps/{project.id}/segments", key_id=access_key[0], secret=access_key[1], body=body
    )

    assert answer.status == 400
    assert "NUL character" in answer.json()["Message"]
    assert not project.segments.exists()


def test_an_escaped_backslash_before_u0000_is_no_nul(pinpoint, project):
    answer = pinpoint.create_segment(
        ApplicationId=project.id, WriteSegmentRequest={"Name": "a\\u0000b", "Dimensions": {}}
    )

    assert answer["SegmentResponse"]["Name"] == "a\\u0000b"
