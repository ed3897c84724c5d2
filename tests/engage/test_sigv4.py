"""The verifier against requests signed by botocore itself (the client Engage must accept)."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from engage.api import sigv4

KEY_ID = "EKIAEXAMPLEEXAMPLE00"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def botocore_signed(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    at: datetime = NOW,
    secret: str = SECRET,
    headers: dict | None = None,
    region: str = "eu-west-1",
) -> sigv4.SignedRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    with time_machine.travel(at, tick=False):  # botocore signs with the current time
        SigV4Auth(Credentials(KEY_ID, secret), "mobiletargeting", region).add_auth(request)
    parts = urlsplit(request.url)
    sent = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    sent["host"] = parts.netloc
    return sigv4.SignedRequest(method, parts.path, parts.query, sent, body)


def lookup(key_id: str) -> str | None:
    return SECRET if key_id == KEY_ID else None


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "http://127.0.0.1:8000/v1/apps", b""),
        ("GET", "http://127.0.0.1:8000/v1/apps?page-size=2&token=abc%3D%3D", b""),
        ("POST", "http://127.0.0.1:8000/v1/apps", b'{"Name": "Shop \\u00e9"}'),
        ("GET", "http://127.0.0.1:8000/v1/tags/arn%3Aaws%3Amobiletargeting%3Aus-east-1%3A0%3Aapps%2Fab", b""),
        ("DELETE", "http://localhost/v1/tags/arn%3Aaws%3Ax?tagKeys=b%20c&tagKeys=a", b""),
        ("PUT", "http://localhost/v1/apps/x/endpoints/a%20b%2Fc", b"{}"),
    ],
)
def test_botocore_signed_requests_verify(method, url, body):
    request = botocore_signed(method, url, body)

    auth = sigv4.verify(request, lookup, now=NOW)

    assert auth.access_key_id == KEY_ID
    assert auth.region == "eu-west-1"


def test_wrong_secret_is_refused():
    request = botocore_signed("GET", "http://localhost/v1/apps", secret="x" * 40)

    with pytest.raises(sigv4.SignatureError, match="signature we calculated does not match"):
        sigv4.verify(request, lookup, now=NOW)


def test_unknown_key_is_refused():
    request = botocore_signed("GET", "http://localhost/v1/apps")

    with pytest.raises(sigv4.UnknownAccessKey):
        sigv4.verify(request, lambda key_id: None, now=NOW)


def test_tampered_body_is_refused():
    request = botocore_signed("POST", "http://localhost/v1/apps", b'{"Name": "a"}')
    tampered = sigv4.SignedRequest(
        request.method, request.raw_path, request.query_string, request.headers, b'{"Name": "b"}'
    )

    with pytest.raises(sigv4.SignatureError, match="does not match"):
        sigv4.verify(tampered, lookup, now=NOW)


def test_tampered_query_is_refused():
    request = botocore_signed("GET", "http://localhost/v1/apps?page-size=2")
    tampered = sigv4.SignedRequest(request.method, request.raw_path, "page-size=3", request.headers, b"")

    with pytest.raises(sigv4.SignatureError, match="does not match"):
        sigv4.verify(tampered, lookup, now=NOW)


def test_decoded_path_does_not_verify_a_request_signed_over_an_encoded_slash():
    request = botocore_signed("GET", "http://localhost/v1/tags/arn%3Aaws%3Ax%2Fapps%2Fab")
    decoded = sigv4.SignedRequest("GET", "/v1/tags/arn:aws:x/apps/ab", "", request.headers, b"")

    with pytest.raises(sigv4.SignatureError):
        sigv4.verify(decoded, lookup, now=NOW)


@pytest.mark.parametrize("minutes", [16, -16])
def test_skew_over_fifteen_minutes_is_refused(minutes):
    request = botocore_signed("GET", "http://localhost/v1/apps", at=NOW + timedelta(minutes=minutes))

    with pytest.raises(sigv4.SignatureError, match=r"Signature (expired|not yet current)"):
        sigv4.verify(request, lookup, now=NOW)


@pytest.mark.parametrize("minutes", [14, -14])
def test_skew_within_fifteen_minutes_is_accepted(minutes):
    request = botocore_signed("GET", "http://localhost/v1/apps", at=NOW + timedelta(minutes=minutes))

    assert sigv4.verify(request, lookup, now=NOW).access_key_id == KEY_ID


@pytest.mark.parametrize(
    "header",
    [
        "AWS4-HMAC-SHA256 Credential=EKIA/20261128/us-east-1/mobiletargeting/aws4_request",
        "AWS4-HMAC-SHA256 Credential=EKIA/20261128/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, "
        "Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=EKIA/20261128/us-east-1/mobiletargeting/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=EKIA/2026/mobiletargeting/aws4_request, SignedHeaders=host, Signature=" + "0" * 64,
    ],
)
def test_malformed_authorization_is_refused_before_any_key_lookup(header):
    request = sigv4.SignedRequest(
        "GET", "/v1/apps", "", {"authorization": header, "host": "h", "x-amz-date": "20261128T120000Z"}, b""
    )
    looked_up = []

    with pytest.raises(sigv4.SignatureError):
        sigv4.verify(request, lambda key_id: looked_up.append(key_id), now=NOW)
    assert looked_up == []


def test_scope_date_must_match_request_date():
    request = botocore_signed("GET", "http://localhost/v1/apps")
    headers = dict(request.headers)
    headers["authorization"] = headers["authorization"].replace("/20261128/", "/20261127/")

    with pytest.raises(sigv4.SignatureError, match="scope date"):
        sigv4.verify(sigv4.SignedRequest("GET", "/v1/apps", "", headers, b""), lookup, now=NOW)


def test_canonical_uri_encodes_the_encoded_path_again():
    assert sigv4.canonical_uri("/v1/apps/app%201%2Fx/segments") == "/v1/apps/app%25201%252Fx/segments"
