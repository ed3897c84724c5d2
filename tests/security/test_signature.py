"""SigV4 refusals over HTTP, in Pinpoint's error shape, and with no side effect. tests/engage covers
the verifier itself and the basic cases through boto3; here each refusal is asserted on the wire
(403, x-amzn-ErrorType, {"Message", "RequestID"}) including replays of a captured, valid request."""

import json
from datetime import timedelta

import pytest
import time_machine
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.utils import timezone

from projects.models import AccessKey, Project
from projects.services import access_key_revoke
from tests.conftest import send_raw
from tests.security.conftest import differences, snapshot

pytestmark = pytest.mark.django_db(transaction=True)


def signed_headers(live_server, method, path, *, key_id, secret, body=b"", at=None) -> dict:
    request = AWSRequest(
        method=method, url=live_server.url + path, data=body, headers={"Content-Type": "application/json"}
    )
    signer = SigV4Auth(Credentials(key_id, secret), "mobiletargeting", "us-east-1")
    if at is None:
        signer.add_auth(request)
    else:
        with time_machine.travel(at, tick=False):
            signer.add_auth(request)
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}


def assert_refused(response, *, message_part: str = "") -> None:
    assert response.status == 403, (response.status, response.body)
    assert response.headers["x-amzn-errortype"] == "ForbiddenException"
    body = response.json()
    assert set(body) == {"Message", "RequestID"}
    assert body["RequestID"] == response.headers["x-amzn-requestid"]
    assert message_part in body["Message"]


@pytest.fixture
def setup(live_server, tenants):
    """A's key and a valid signed request: create a segment in A (it works when sent as signed)."""
    a, _ = tenants
    path = f"/v1/apps/{a.project.id}/segments"
    body = json.dumps({"Name": "mine", "Dimensions": {}}).encode()
    return a, path, body


def test_the_untampered_request_is_accepted(live_server, setup):
    a, path, body = setup
    headers = signed_headers(live_server, "POST", path, key_id=a.key_id, secret=a.secret, body=body)

    assert send_raw(live_server, "POST", path, body=body, headers=headers).status == 201


@pytest.mark.parametrize(
    "change",
    ["other path", "added query", "other method", "other body", "other signed header", "other key id"],
)
def test_a_replayed_request_with_anything_changed_is_refused(live_server, setup, tenants, change):
    a, path, body = setup
    b = tenants[1]
    headers = signed_headers(live_server, "POST", path, key_id=a.key_id, secret=a.secret, body=body)
    method = "POST"
    if change == "other path":
        path = f"/v1/apps/{b.project.id}/segments"  # the captured request aimed at another project
    elif change == "added query":
        path += "?page-size=1"
    elif change == "other method":
        method = "PUT"
    elif change == "other body":
        body = body.replace(b"mine", b"evil")
    elif change == "other signed header":
        headers["Content-Type"] = "text/plain"
    elif change == "other key id":
        headers["Authorization"] = headers["Authorization"].replace(a.key_id, b.key_id)
    before = snapshot()

    response = send_raw(live_server, method, path, body=body, headers=headers)

    assert_refused(response)
    assert differences(before, snapshot()) == []


def test_a_query_changed_after_signing_is_refused(live_server, setup):
    a, _, _ = setup
    path = f"/v1/apps/{a.project.id}/segments?page-size=1"
    headers = signed_headers(live_server, "GET", path, key_id=a.key_id, secret=a.secret)

    assert send_raw(live_server, "GET", path, headers=headers).status == 200
    assert_refused(send_raw(live_server, "GET", path.replace("=1", "=2"), headers=headers))


@pytest.mark.parametrize("state", ["revoked", "deleted", "user deactivated", "user deleted"])
def test_a_key_no_longer_valid_is_refused(live_server, setup, state):
    a, path, body = setup
    key = AccessKey.objects.get(access_key_id=a.key_id)
    headers = signed_headers(live_server, "POST", path, key_id=a.key_id, secret=a.secret, body=body)
    user = key.user
    if state == "revoked":
        access_key_revoke(key)
    elif state == "deleted":
        key.delete()
    elif state == "user deactivated":
        user.is_active = False
        user.save()
    else:
        user.delete()
    before = snapshot()

    response = send_raw(live_server, "POST", path, body=body, headers=headers)

    assert_refused(response)
    assert differences(before, snapshot()) == []


@pytest.mark.parametrize("minutes", [16, -16, 60 * 24, -60 * 24])
def test_a_request_dated_over_fifteen_minutes_away_is_refused(live_server, setup, minutes):
    a, path, body = setup
    at = timezone.now() + timedelta(minutes=minutes)
    headers = signed_headers(live_server, "POST", path, key_id=a.key_id, secret=a.secret, body=body, at=at)

    assert_refused(send_raw(live_server, "POST", path, body=body, headers=headers), message_part="Signature ")
    assert not Project.objects.get(pk=a.project.pk).segments.exists()


@pytest.mark.parametrize("credentials", ["wrong secret", "unknown key"])
def test_wrong_credentials_are_refused_in_pinpoints_shape(live_server, setup, credentials):
    a, path, body = setup
    key_id, secret = (a.key_id, "x" * 40) if credentials == "wrong secret" else ("EKIAUNKNOWNUNKNOWN00", a.secret)
    headers = signed_headers(live_server, "POST", path, key_id=key_id, secret=secret, body=body)
    before = snapshot()

    assert_refused(send_raw(live_server, "POST", path, body=body, headers=headers))
    assert differences(before, snapshot()) == []
