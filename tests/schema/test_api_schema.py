"""Schemathesis against the OpenAPI document generated from botocore's Pinpoint model.

Every operation of the model is called on a live server with generated requests (valid ones and
invalid ones), each signed with SigV4 by a real access key just before it is sent. Every answer must
be something other than a server error; for the operations Engage serves the answer must also be
one the model declares (status, content type, body schema). Unbuilt operations must answer 405.

Deterministic (Hypothesis derandomized) and bounded: a few examples per operation.
"""

import ipaddress
import os
import re
import socket
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import hypothesis
import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engage.api import openapi, operations
from engage.api.ratelimit import LIMITS_ENV
from tests.conftest import make_client, send_raw
from tests.schema.conftest import STATUSES

SERVED = openapi.served_operations()
schema = schemathesis.openapi.from_dict(openapi.build(SERVED))
schema.config.generation.update(modes=["positive", "negative"])
schema.config.phases.update(phases=["examples", "fuzzing"])

MAX_EXAMPLES = int(os.environ.get("ENGAGE_SCHEMA_EXAMPLES", "4"))  # per operation; more for a deeper local run
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class SigV4(requests.auth.AuthBase):
    """Signs the request exactly as it will leave: path and query re-encoded the way botocore
    encodes them, then SigV4 (service mobiletargeting) over method, path, query, host and body."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.signer = SigV4Auth(Credentials(key_id, secret), "mobiletargeting", "us-east-1")

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(prepared.url)
        path = "/".join(quote(unquote(segment), safe="-_.~") for segment in parts.path.split("/"))
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
        prepared.url = urlunsplit((parts.scheme, parts.netloc, path, query, ""))
        body = prepared.body or b""
        if isinstance(body, str):
            body = prepared.body = body.encode()
        signed_headers = {"Host": parts.netloc}
        if prepared.headers.get("Content-Type"):
            signed_headers["Content-Type"] = prepared.headers["Content-Type"]
        request = AWSRequest(method=prepared.method, url=prepared.url, data=body, headers=signed_headers)
        self.signer.add_auth(request)
        for name in ("Authorization", "X-Amz-Date"):
            prepared.headers[name] = request.headers[name]
        prepared.headers["Content-Length"] = str(len(body))
        return prepared


@pytest.fixture
def loopback_only(monkeypatch):
    """Whatever a generated request makes Engage do (an import from s3://..., a webhook, SMS),
    no connection and no DNS lookup leaves the machine: it fails as an unreachable host would."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def is_loopback(host) -> bool:
        if host in ("localhost", None):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0] if isinstance(host, str) else host).is_loopback
        except ValueError:
            return False

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            raise ConnectionRefusedError(f"the schema test refuses a connection to {address[0]}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not is_loopback(host.decode() if isinstance(host, bytes) else host):
            raise socket.gaierror(socket.EAI_NONAME, f"the schema test refuses to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


FUTURE = "2100-01-01T00:00:00Z"  # nothing the seeded campaign or journey does runs during the test
TEMPLATE = "fuzz-template"
TEMPLATES = {  # boto3 method → (its request member, a valid template)
    "create_email_template": ("EmailTemplateRequest", {"Subject": "Hi", "HtmlPart": "<p>Hi</p>"}),
    "create_sms_template": ("SMSTemplateRequest", {"Body": "Hi"}),
    "create_push_template": ("PushNotificationTemplateRequest", {"Default": {"Body": "Hi"}}),
    "create_voice_template": ("VoiceTemplateRequest", {"Body": "Hi"}),
    "create_in_app_template": (
        "InAppTemplateRequest",
        {
            "Content": [{"BodyConfig": {"Body": "Hi", "Alignment": "LEFT", "TextColor": "#000000"}}],
            "Layout": "TOP_BANNER",
        },
    ),
}


class World:
    """Real resources to put in a path where the model names an id, so that most generated
    requests reach an existing campaign, journey, template... and not a 404. Each is made through
    the API on first use, once per test; an id nothing was made for stays as generated."""

    def __init__(self, client, project) -> None:
        self.client = client
        self.project = project
        self.values: dict[str, str | None] = {}

    def value(self, name: str, operation_path: str) -> str | None:
        if name == "kpi-name":
            return self._kpi_name(operation_path)
        if name not in self.values:
            make = getattr(self, "_" + name.replace("-", "_"), None)
            self.values[name] = make() if make else None
        return self.values[name]

    def _application_id(self) -> str:
        return self.project.id

    def _resource_arn(self) -> str:
        return self.project.arn

    def _segment_id(self) -> str:
        request = {"Name": "fuzz", "Dimensions": {"Demographic": {"Platform": {"Values": ["ios"]}}}}
        answer = self.client.create_segment(ApplicationId=self.project.id, WriteSegmentRequest=request)
        return answer["SegmentResponse"]["Id"]

    def _campaign_id(self) -> str:
        request = {
            "Name": "fuzz",
            "SegmentId": self.value("segment-id", ""),
            "Schedule": {"StartTime": FUTURE, "Frequency": "ONCE"},
            "MessageConfiguration": {"EmailMessage": {"Title": "Hi", "HtmlBody": "<p>Hi</p>"}},
        }
        answer = self.client.create_campaign(ApplicationId=self.project.id, WriteCampaignRequest=request)
        return answer["CampaignResponse"]["Id"]

    def _template_name(self) -> str:
        for method, (member, body) in TEMPLATES.items():
            getattr(self.client, method)(TemplateName=TEMPLATE, **{member: body})
        return TEMPLATE

    def _journey_id(self) -> str:
        request = {
            "Name": "fuzz",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": self.value("segment-id", "")}},
            "Schedule": {"StartTime": FUTURE},
            "StartActivity": "welcome",
            "Activities": {"welcome": {"EMAIL": {"TemplateName": self.value("template-name", "")}}},
        }
        answer = self.client.create_journey(ApplicationId=self.project.id, WriteJourneyRequest=request)
        return answer["JourneyResponse"]["Id"]

    def _journey_activity_id(self) -> str:
        return "welcome"

    def _endpoint_id(self) -> str:
        request = {"ChannelType": "EMAIL", "Address": "fuzz@example.com", "User": {"UserId": "fuzz-user"}}
        self.client.update_endpoint(ApplicationId=self.project.id, EndpointId="fuzz-endpoint", EndpointRequest=request)
        return "fuzz-endpoint"

    def _user_id(self) -> str:
        self.value("endpoint-id", "")
        return "fuzz-user"

    def _template_type(self) -> str:
        self.value("template-name", "")
        return "EMAIL"

    def _version(self) -> str:
        return "1"

    def _attribute_type(self) -> str:
        return "endpoint-custom-attributes"

    def _kpi_name(self, operation_path: str) -> str:
        from audience.analytics import kpis

        if "{journey-id}" in operation_path:
            return next(iter(kpis.JOURNEY_KPIS))
        return "successful-delivery-rate"


@pytest.fixture
def api(live_server, project, access_key, loopback_only, monkeypatch):
    monkeypatch.setenv(LIMITS_ENV, "off")  # a fast run must not meet Pinpoint's quotas
    world = World(make_client(live_server, *access_key), project)
    return live_server.url, world, SigV4(*access_key)


@schema.parametrize()
@schema.given(generated_ids=st.integers(0, 4))
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_api_answers_as_the_pinpoint_model_declares(case, generated_ids, api):
    base_url, world, auth = api
    if generated_ids != 1:  # one case in five or so keeps the generated ids: 404s must be clean too
        for name in case.path_parameters:
            value = world.value(name, case.operation.path)
            if value is not None:
                case.path_parameters[name] = value

    response = case.call(base_url=base_url, auth=auth)
    STATUSES[(case.operation.label, response.status_code)] += 1

    if case.operation.definition.raw.get("x-engage-served"):
        case.validate_response(response, checks=[not_a_server_error, *CONFORMANCE])
    else:
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code in (400, 403, 405, 413), response.text


def test_every_operation_refuses_an_unsigned_request(live_server, transactional_db, project):
    refused = {}
    for op in operations.operations():
        path = re.sub(r"\{[^}]+\}", lambda label: project.id if label[0] == "{application-id}" else "x", op.uri)
        body = b"{}" if op.method in ("POST", "PUT") else b""

        answer = send_raw(live_server, op.method, path, body=body, headers={"Content-Type": "application/json"})

        refused[op.name] = (answer.status, answer.headers.get("x-amzn-errortype"))
    assert {name: got for name, got in refused.items() if got != (403, "ForbiddenException")} == {}
