"""A database that does not answer: requests answer 503 with Retry-After — Pinpoint's error shape
under /v1/, a plain page elsewhere — never a 500 page or a traceback (engage.dbfaults).

The database is really unreachable: this thread's "default" connection is pointed at a PostgreSQL
address where nothing listens, so every query raises the OperationalError a stopped server
causes (on SQLite runs too: psycopg is installed). The same requests against the suite's own
database are the control: they do not answer 503.
"""

import logging

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client

from tests.campaigns.test_deliveries import free_port
from tests.reliability.private_pg import default_database

pytestmark = pytest.mark.django_db


def signed_headers(path: str) -> dict[str, str]:
    """The headers boto3 sends for GET `path` with some access key (it is looked up in the database)."""
    request = AWSRequest(method="GET", url=f"http://testserver{path}")
    SigV4Auth(Credentials("AKIAEXAMPLEKEY000000", "secret"), "mobiletargeting", "us-east-1").add_auth(request)
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items() if k.lower() != "host"}


@pytest.fixture
def unreachable_database():
    with default_database(f"postgres://postgres@127.0.0.1:{free_port()}/engage"):
        yield


@pytest.fixture
def browser():
    """A client carrying a session cookie (reading it needs the database); errors become responses."""
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "x" * 32
    return client


def test_an_api_call_answers_503_in_pinpoint_shape_while_the_database_is_unreachable(unreachable_database, caplog):
    client = Client(raise_request_exception=False)

    with caplog.at_level(logging.WARNING):
        response = client.get("/v1/apps/abc/endpoints/e1", headers=signed_headers("/v1/apps/abc/endpoints/e1"))

    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"Message", "RequestID"} and body["RequestID"] == response["x-amzn-RequestId"]
    assert response["x-amzn-ErrorType"] == "ServiceUnavailableException"
    assert response["Retry-After"] == "5"
    (line,) = caplog.records  # one line, without a traceback
    assert "database unavailable" in line.getMessage() and not line.exc_info


def test_a_page_whose_middleware_reads_the_session_answers_a_503_page(unreachable_database, browser, caplog):
    with caplog.at_level(logging.WARNING):
        response = browser.get("/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert b"briefly unavailable" in response.content and b"Traceback" not in response.content
    (line,) = caplog.records
    assert "database unavailable" in line.getMessage() and not line.exc_info


def test_a_view_reading_the_database_answers_a_503_page(unreachable_database):
    client = Client(raise_request_exception=False)

    response = client.post("/login/", {"username": "alice", "password": "wrong-password"})

    assert response.status_code == 503
    assert b"briefly unavailable" in response.content


def test_the_same_requests_with_the_database_answering_are_not_503(browser):
    client = Client(raise_request_exception=False)

    api = client.get("/v1/apps/abc/endpoints/e1", headers=signed_headers("/v1/apps/abc/endpoints/e1"))
    page = browser.get("/")
    login = client.post("/login/", {"username": "alice", "password": "wrong-password"})

    assert api.status_code == 403  # the key does not exist
    assert page.status_code == 302  # no valid session: to the login page
    assert login.status_code == 200  # the form again, with its error


class SessionStore(SessionBase):
    """A session engine failing with something other than a database error."""

    def load(self):
        raise RuntimeError("the session store is broken")


def test_other_errors_outside_a_view_still_answer_500(settings, browser):
    settings.SESSION_ENGINE = "tests.engage.test_dbfaults"  # SessionStore above

    response = browser.get("/")

    assert response.status_code == 500
    assert b"briefly unavailable" not in response.content
