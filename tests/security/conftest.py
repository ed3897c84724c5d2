"""Two tenants for the security tests: alice's project A and mallory's project B, with B holding one
of every resource the API and the pages address by id."""

import json
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.utils import timezone

from audience.models import ExportJob, ImportJob
from campaigns.templates import template_create
from journeys.models import Journey, JourneyRun
from projects.models import Project, Role
from projects.services import access_key_create
from tests.conftest import send_signed
from tests.factories import MembershipFactory, UserFactory

ENGAGE_APPS = ("projects", "audience", "campaigns", "journeys")
# Rows any signed request may touch legitimately: the caller's key records its use.
VOLATILE = {"projects.accesskey"}
PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}

TOKEN_KEY = "-----BEGIN PRIVATE KEY-----\nMIGTAgEA-security-token-key\n-----END PRIVATE KEY-----"
APNS = {
    "DefaultAuthenticationMethod": "KEY",
    "TokenKey": TOKEN_KEY,
    "TokenKeyId": "ABC123DEFG",
    "BundleId": "com.example.b",
    "TeamId": "TEAM123456",
}
CHANNELS = {
    "email": {"FromAddress": "b@example.com", "Identity": "b@example.com"},
    "sms": {"Enabled": True},
    "voice": {"Enabled": True},
    "adm": {"ClientId": "c", "ClientSecret": "s"},
    "baidu": {"ApiKey": "k", "SecretKey": "s"},
    "gcm": {"ApiKey": "k"},
    "apns": APNS,
    "apns_sandbox": APNS,
    "apns_voip": APNS,
    "apns_voip_sandbox": APNS,
}


@dataclass
class Tenant:
    project: Project
    key_id: str
    secret: str
    segment_id: str = ""
    campaign_id: str = ""
    journey_id: str = ""
    run_id: str = ""
    import_job_id: str = ""
    export_job_id: str = ""

    def call(self, live_server, method: str, path: str, body=None):
        raw = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return send_signed(live_server, method, path, key_id=self.key_id, secret=self.secret, body=raw, headers=headers)

    def ok(self, live_server, method: str, path: str, body=None) -> dict:
        response = self.call(live_server, method, path, body)
        assert response.status < 300, (method, path, response.status, response.body[:500])
        return response.json() if response.body else {}


def journey_definition(segment_id: str, name: str = "Welcome") -> dict:
    return {
        "Name": name,
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment_id}},
        "StartActivity": "welcome",
        "Activities": {
            "welcome": {"EMAIL": {"TemplateName": "sec-welcome", "NextActivity": "pause"}},
            "pause": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
        },
    }


def campaign_definition(segment_id: str, name: str = "Spring") -> dict:
    return {
        "Name": name,
        "SegmentId": segment_id,
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "MessageConfiguration": {"EmailMessage": {"Title": "Hi", "HtmlBody": "<p>Hi</p>"}},
    }


def tenant(live_server, username: str, *, role=Role.OWNER) -> Tenant:
    user = UserFactory(username=username)
    project = MembershipFactory(user=user, role=role).project
    issued = access_key_create(user)
    return Tenant(project, issued.key.access_key_id, issued.secret)


def populate(live_server, t: Tenant) -> Tenant:
    """One of every resource, made through the tenant's own API calls where the API makes them."""
    app = f"/v1/apps/{t.project.id}"
    t.ok(
        live_server,
        "PUT",
        f"{app}/endpoints/e1",
        {"ChannelType": "EMAIL", "Address": "b@example.com", "User": {"UserId": "u1"}, "Attributes": {"Plan": ["pro"]}},
    )
    t.segment_id = t.ok(live_server, "POST", f"{app}/segments", {"Name": "B-segment", "Dimensions": PLAN_PRO})["Id"]
    t.campaign_id = t.ok(live_server, "POST", f"{app}/campaigns", campaign_definition(t.segment_id, "B-campaign"))["Id"]
    t.journey_id = t.ok(live_server, "POST", f"{app}/journeys", journey_definition(t.segment_id, "B-journey"))["Id"]
    for slug, body in CHANNELS.items():
        t.ok(live_server, "PUT", f"{app}/channels/{slug}", body)
    t.ok(
        live_server,
        "POST",
        f"{app}/eventstream",
        {"DestinationStreamArn": "https://b.example.com/hook", "RoleArn": "arn:aws:iam::1:role/x"},
    )
    journey = Journey.objects.get(pk=t.journey_id)
    t.run_id = JourneyRun.objects.create(journey=journey, scheduled_at=timezone.now()).id
    t.import_job_id = ImportJob.objects.create(project=t.project, format="CSV", s3_url="s3://b/in.csv").id
    t.export_job_id = ExportJob.objects.create(project=t.project, s3_url_prefix="s3://b/out/").id
    return t


@pytest.fixture
def tenants(live_server, transactional_db):
    """(A, B): A is alice's empty project, B mallory's project holding one of everything."""
    template_create("EMAIL", "sec-welcome", {"Subject": "Hi", "HtmlPart": "<p>Hi</p>"})
    a = tenant(live_server, "alice")
    b = populate(live_server, tenant(live_server, "mallory"))
    return a, b


def snapshot() -> dict:
    """Every row of Engage's own tables, as plain values: a side effect anywhere shows as a difference."""
    rows = {}
    for app_label in ENGAGE_APPS:
        for model in apps.get_app_config(app_label).get_models():
            label = model._meta.label_lower
            if label in VOLATILE:
                continue
            rows[label] = sorted(map(repr, model.objects.order_by().values_list()))
    return rows


def differences(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]
