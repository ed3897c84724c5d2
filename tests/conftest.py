"""Fixtures shared by the whole suite: a live server that passes the raw path, and boto3 clients."""

import boto3
import pytest
from botocore.config import Config
from django.core.servers.basehttp import WSGIRequestHandler
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

from projects.models import Role
from projects.services import access_key_create
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


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


def make_client(live_server, access_key_id: str, secret: str, region: str = "us-east-1"):
    return boto3.client(
        "pinpoint",
        endpoint_url=live_server.url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def pinpoint_for(live_server, transactional_db):
    """A factory: a boto3 Pinpoint client signed with a fresh access key of the given user."""

    def build(some_user, region: str = "us-east-1"):
        issued = access_key_create(some_user)
        return make_client(live_server, issued.key.access_key_id, issued.secret, region)

    return build


@pytest.fixture
def pinpoint(pinpoint_for, user):
    """A boto3 Pinpoint client against the live server, signed with a fresh key of `user`."""
    return pinpoint_for(user)


__all__ = ["ProjectFactory"]
