"""Fixtures shared by the whole suite: a live server that passes the raw path, and boto3 clients."""

import http.client
import json
from datetime import datetime
from urllib.parse import urlsplit

import boto3
import pytest
import time_machine
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from django.core.servers.basehttp import WSGIRequestHandler
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

from projects.models import Role
from projects.services import access_key_create
from tests.factories import MembershipFactory, UserFactory


class RawUriRequestHandler(QuietWSGIRequestHandler):
    """Passes the still-encoded request target as RAW_URI, as gunicorn does in production."""

    def get_environ(self):
        environ = WSGIRequestHandler.get_environ(self)
        environ["RAW_URI"] = self.path
        return environ


class RawUriLiveServerThread(LiveServerThread):
    def _create_server(self, connections_override=None):
        return self.server_class(
            (self.host, self.port),
            RawUriRequestHandler,
            allow_reuse_address=False,
            connections_override=connections_override,
        )


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live_server, on a server that hands views the raw request path."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("127.0.0.1", start=False)
    server.thread.__class__ = RawUriLiveServerThread
    server.start()
    request.addfinalizer(server.stop)
    return server


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def project(user):
    return MembershipFactory(user=user, role=Role.OWNER).project


def make_client(live_server, access_key_id: str, secret: str, region: str = "us-east-1", *, validate: bool = True):
    """A boto3 Pinpoint client; validate=False lets it send what botocore would refuse to."""
    return boto3.client(
        "pinpoint",
        endpoint_url=live_server.url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
    )


@pytest.fixture
def pinpoint_for(live_server, transactional_db):
    """A factory: a boto3 Pinpoint client signed with a fresh access key of the given user."""

    def build(some_user, region: str = "us-east-1"):
        issued = access_key_create(some_user)
        return make_client(live_server, issued.key.access_key_id, issued.secret, region)

    return build


@pytest.fixture
def unvalidated_pinpoint(live_server, access_key):
    """Like `pinpoint`, but botocore does not check parameters first: for server-side validation tests."""
    return make_client(live_server, *access_key, validate=False)


@pytest.fixture
def pinpoint(pinpoint_for, user):
    """A boto3 Pinpoint client against the live server, signed with a fresh key of `user`."""
    return pinpoint_for(user)


class RawResponse:
    def __init__(self, status: int, headers: dict, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def send_signed(
    live_server,
    method: str,
    path: str,
    *,
    key_id: str,
    secret: str,
    body: bytes = b"",
    signed_body: bytes | None = None,
    at: datetime | None = None,
    headers: dict | None = None,
) -> RawResponse:
    """Sign a request as botocore does (optionally over a different body or at another time), send
    it raw and return the answer — for the cases boto3 itself would never send."""
    url = live_server.url + path
    request = AWSRequest(
        method=method, url=url, data=body if signed_body is None else signed_body, headers=headers or {}
    )
    signer = SigV4Auth(Credentials(key_id, secret), "mobiletargeting", "us-east-1")
    if at is None:
        signer.add_auth(request)
    else:
        with time_machine.travel(at, tick=False):
            signer.add_auth(request)
    sent_headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    return send_raw(live_server, method, path, body=body, headers=sent_headers)


def send_raw(live_server, method: str, path: str, *, body: bytes = b"", headers: dict | None = None) -> RawResponse:
    parts = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return RawResponse(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
    finally:
        connection.close()


@pytest.fixture
def access_key(user, transactional_db):
    """A fresh key of `user`: (access_key_id, secret)."""
    issued = access_key_create(user)
    return issued.key.access_key_id, issued.secret


@pytest.fixture(scope="session")
def moto_server():
    """moto's real S3 server on a free loopback port, for the whole session: import and export
    jobs talk to it over HTTP through boto3, as they would to any S3-compatible store."""
    import logging
    import os
    import socket

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class Bucket:
    """A fresh bucket on the moto server, with helpers to put and read objects."""

    def __init__(self, endpoint_url: str) -> None:
        import uuid

        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
        self.name = f"engage-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=self.name)

    def put(self, key: str, body: bytes | str) -> str:
        self.client.put_object(Bucket=self.name, Key=key, Body=body.encode() if isinstance(body, str) else body)
        return f"s3://{self.name}/{key}"

    def url(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"

    def list_keys(self, prefix: str = "") -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name, Prefix=prefix).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture
def s3(moto_server, settings):
    """A fresh bucket on the moto S3 server, and Engage configured to use that server."""
    settings.ENGAGE_S3_ENDPOINT_URL = moto_server
    return Bucket(moto_server)


@pytest.fixture(scope="session", autouse=True)
def _no_stray_connections_at_teardown(request):
    """Before the test database is dropped, end connections other threads left open (a browser's
    last request served by the live server), so PostgreSQL can drop it instead of leaving it behind.
    PostgreSQL only: on SQLite the live server shares the in-memory connection and must keep it."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    request.getfixturevalue("django_db_setup")  # set up first, so torn down after this fixture
    blocker = request.getfixturevalue("django_db_blocker")
    yield
    with blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
