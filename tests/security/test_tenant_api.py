"""Tenant isolation of the Pinpoint API (ASVS 8.2.2, 8.4.1): every operation Engage serves, signed
with project A's key but naming project B's resources — in the path or inside the body — answers
404 (or 403) in Pinpoint's error shape and changes nothing anywhere."""

import re

import pytest

from engage.api.coverage import coverage
from projects.models import Membership, Role
from tests.security.conftest import (
    CHANNELS,
    PLAN_PRO,
    campaign_definition,
    differences,
    journey_definition,
    snapshot,
    tenant,
)

pytestmark = pytest.mark.django_db(transaction=True)

SERVED = sorted((row.operation for row in coverage() if row.implemented), key=lambda op: op.name)
# Installation-wide resources, not a tenant's: templates, phone validation, the project list itself.
WITHOUT_TENANT = ("/v1/templates", "/v1/phone/")
# Labels whose values the client chooses: the same id in A is A's own resource, not B's.
CLIENT_CHOSEN = {"endpoint-id", "user-id", "attribute-type", "kpi-name", "journey-activity-id", "version"}


def body_for(name: str, b) -> dict | None:
    """A request body that would succeed on the caller's own project, so only tenancy can refuse it."""
    channel = re.fullmatch(r"Update(\w+)Channel", name)
    if channel:
        return CHANNELS[re.sub(r"(?<!^)([A-Z])", r"_\1", channel.group(1)).lower()]
    bodies = {
        "CreateCampaign": campaign_definition(b.segment_id, "hijack"),
        "UpdateCampaign": campaign_definition(b.segment_id, "hijack"),
        "CreateJourney": journey_definition(b.segment_id, "hijack"),
        "UpdateJourney": journey_definition(b.segment_id, "hijack"),
        "UpdateJourneyState": {"State": "ACTIVE"},
        "CreateSegment": {"Name": "hijack", "Dimensions": PLAN_PRO},
        "UpdateSegment": {"Name": "hijack", "Dimensions": PLAN_PRO},
        "CreateExportJob": {"S3UrlPrefix": "s3://a/out/", "RoleArn": "arn:aws:iam::1:role/x"},
        "CreateImportJob": {"S3Url": "s3://a/in.csv", "RoleArn": "arn:aws:iam::1:role/x", "Format": "CSV"},
        "UpdateEndpoint": {"ChannelType": "EMAIL", "Address": "hijack@example.com"},
        "UpdateEndpointsBatch": {"Item": [{"Id": "e1", "ChannelType": "EMAIL", "Address": "hijack@example.com"}]},
        "PutEvents": {
            "BatchItem": {
                "e1": {
                    "Endpoint": {"ChannelType": "EMAIL", "Address": "hijack@example.com"},
                    "Events": {"x": {"EventType": "hijack", "Timestamp": "2030-01-01T00:00:00Z"}},
                }
            }
        },
        "PutEventStream": {"DestinationStreamArn": "https://a.example.com/hook", "RoleArn": "arn:aws:iam::1:role/x"},
        "RemoveAttributes": {"Blacklist": ["Plan"]},
        "SendMessages": {
            "Endpoints": {"e1": {}},
            "MessageConfiguration": {"SMSMessage": {"Body": "hijack"}},
        },
        "SendUsersMessages": {
            "Users": {"u1": {}},
            "MessageConfiguration": {"SMSMessage": {"Body": "hijack"}},
        },
        "SendOTPMessage": {
            "BrandName": "x",
            "Channel": "SMS",
            "DestinationIdentity": "+15550100",
            "OriginationIdentity": "+15550199",
            "ReferenceId": "r1",
        },
        "VerifyOTPMessage": {"DestinationIdentity": "+15550100", "Otp": "123456", "ReferenceId": "r1"},
        "UpdateApplicationSettings": {"Limits": {"Daily": 1}},
        "TagResource": {"tags": {"hijack": "yes"}},
    }
    return bodies.get(name)


def path_for(uri: str, values: dict) -> str:
    return re.sub(r"\{([^}+]+)\+?\}", lambda m: values[m.group(1)], uri)


def b_values(a, b, op_name: str, *, application) -> dict:
    return {
        "application-id": application.id,
        "campaign-id": b.campaign_id,
        "journey-id": b.journey_id,
        "segment-id": b.segment_id,
        "run-id": b.run_id,
        "job-id": b.export_job_id if "Export" in op_name else b.import_job_id,
        "endpoint-id": "e1",
        "user-id": "u1",
        "journey-activity-id": "welcome",
        "version": "1",
        "kpi-name": "journey-emails-delivered" if "Journey" in op_name else "email-open-rate",
        "attribute-type": "endpoint-custom-attributes",
        "resource-arn": b.project.arn,
    }


def query_for(name: str) -> str:
    if "Kpi" in name:
        return "?start-time=2030-01-01T00%3A00%3A00Z&end-time=2030-01-02T00%3A00%3A00Z"
    if name == "UntagResource":
        return "?tagKeys=x"
    return ""


def refused(response) -> str | None:
    """None if the answer is a proper refusal, else what is wrong with it."""
    if response.status not in (403, 404):
        return f"{response.status} {response.body[:200]!r}"
    body = response.json()
    if set(body) != {"Message", "RequestID"} or "x-amzn-errortype" not in response.headers:
        return f"not Pinpoint's error shape: {response.body[:200]!r}"
    return None


def check(live_server, a, op, path: str, body) -> str | None:
    before = snapshot()
    response = a.call(live_server, op.method, path + query_for(op.name), body)
    wrong = refused(response)
    changed = differences(before, snapshot())
    if wrong or changed:
        return f"{op.name} {op.method} {path}: {wrong or 'refused'}; changed: {changed}"
    return None


def tenant_paths(a, b):
    for op in SERVED:
        if not (op.uri.startswith(WITHOUT_TENANT) or op.uri == "/v1/apps"):
            yield op, path_for(op.uri, b_values(a, b, op.name, application=b.project))


def test_the_probes_succeed_for_the_owner_so_a_refusal_means_tenancy(live_server, tenants):
    """B's own key sending the very requests the isolation tests send as A: each one works (2xx), so
    a 404 to A is the tenancy check and not a malformed probe. Deletions go last, the app's last."""
    a, b = tenants
    failures = []
    last = ("DeleteEndpoint", "DeleteApp")  # the user's endpoints go first; the app with everything
    probes = sorted(
        tenant_paths(a, b),
        key=lambda probe: (probe[0].method == "DELETE", last.index(probe[0].name) + 1 if probe[0].name in last else 0),
    )
    for op, path in probes:
        if op.name in ("CreateExportJob", "CreateImportJob"):
            continue  # they run at once here and need a real bucket; tests/audience covers them
        if op.name == "DeleteEndpoint":  # DeleteUserEndpoints took it
            b.ok(live_server, "PUT", path, body_for("UpdateEndpoint", b))
        response = b.call(live_server, op.method, path + query_for(op.name), body_for(op.name, b))
        if response.status >= 300:
            failures.append(f"{op.name}: {response.status} {response.body[:200]!r}")
    assert not failures, "\n".join(failures)


def test_every_operation_refuses_another_projects_application_id(live_server, tenants):
    a, b = tenants
    failures = []
    checked = 0
    for op, path in tenant_paths(a, b):
        failure = check(live_server, a, op, path, body_for(op.name, b))
        checked += 1
        if failure:
            failures.append(failure)

    assert checked > 80
    assert not failures, "\n".join(failures)


def test_every_operation_refuses_another_projects_resource_ids_under_ones_own_project(live_server, tenants):
    a, b = tenants
    failures = []
    checked = 0
    for op in SERVED:
        labels = set(re.findall(r"\{([^}+]+)\+?\}", op.uri)) - {"application-id"}
        if not op.uri.startswith("/v1/apps/") or not labels or labels <= CLIENT_CHOSEN:
            continue
        path = path_for(op.uri, b_values(a, b, op.name, application=a.project))
        failure = check(live_server, a, op, path, body_for(op.name, b))
        checked += 1
        if failure:
            failures.append(failure)

    assert checked > 20
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "kind",
    ["campaign", "segment", "journey"],
)
def test_tags_of_another_projects_resources_are_not_found(live_server, tenants, kind):
    a, b = tenants
    arn = f"{b.project.arn}/{kind}s/{getattr(b, kind + '_id')}"
    for method, query, body in (("GET", "", None), ("POST", "", {"tags": {"x": "y"}}), ("DELETE", "?tagKeys=x", None)):
        before = snapshot()
        response = a.call(live_server, method, f"/v1/tags/{arn}{query}", body)
        assert refused(response) is None, (method, arn, response.status, response.body)
        assert differences(before, snapshot()) == []


def test_another_projects_ids_inside_request_bodies_are_refused(live_server, tenants):
    """A segment of B named in A's campaign, journey, segment group or export job: 4xx, nothing made."""
    a, b = tenants
    app = f"/v1/apps/{a.project.id}"
    calls = [
        ("POST", f"{app}/campaigns", campaign_definition(b.segment_id, "hijack")),
        ("POST", f"{app}/journeys", journey_definition(b.segment_id, "hijack")),
        (
            "POST",
            f"{app}/segments",
            {"Name": "hijack", "SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": b.segment_id}]}]}},
        ),
        (
            "POST",
            f"{app}/jobs/export",
            {"S3UrlPrefix": "s3://a/out/", "RoleArn": "arn:aws:iam::1:role/x", "SegmentId": b.segment_id},
        ),
        (
            "POST",
            f"{app}/jobs/import",
            {
                "S3Url": "s3://a/in.csv",
                "RoleArn": "arn:aws:iam::1:role/x",
                "Format": "CSV",
                "SegmentId": b.segment_id,
            },
        ),
    ]
    own_segment = a.ok(live_server, "POST", f"{app}/segments", {"Name": "mine", "Dimensions": PLAN_PRO})["Id"]
    own_campaign = a.ok(live_server, "POST", f"{app}/campaigns", campaign_definition(own_segment, "mine"))["Id"]
    own_journey = a.ok(live_server, "POST", f"{app}/journeys", journey_definition(own_segment, "mine"))["Id"]
    calls += [
        ("PUT", f"{app}/campaigns/{own_campaign}", campaign_definition(b.segment_id, "hijack")),
        ("PUT", f"{app}/journeys/{own_journey}", journey_definition(b.segment_id, "hijack")),
        (
            "PUT",
            f"{app}/segments/{own_segment}",
            {"Name": "hijack", "SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": b.segment_id}]}]}},
        ),
    ]
    failures = []
    for method, path, body in calls:
        before = snapshot()
        response = a.call(live_server, method, path, body)
        changed = differences(before, snapshot())
        if response.status not in (400, 403, 404) or changed:
            failures.append(f"{method} {path} {sorted(body)}: {response.status} {response.body[:200]!r} {changed}")
    assert not failures, "\n".join(failures)


def test_the_project_list_never_shows_another_project(live_server, tenants):
    a, _ = tenants
    listed = a.ok(live_server, "GET", "/v1/apps")["Item"]
    assert [app["Id"] for app in listed] == [a.project.id]


def test_a_viewers_key_cannot_change_anything(live_server, tenants):
    """Function-level authorization (ASVS 8.2.1): a viewer of B reads B but every write is 403."""
    a, b = tenants
    viewer = tenant(live_server, "victor")
    Membership.objects.create(project=b.project, user=viewer.project.memberships.get().user, role=Role.VIEWER)
    failures = []
    for op, path in tenant_paths(a, b):
        if op.method == "GET":
            continue
        before = snapshot()
        response = viewer.call(live_server, op.method, path + query_for(op.name), body_for(op.name, b))
        changed = differences(before, snapshot())
        if response.status != 403 or refused(response) or changed:
            failures.append(f"{op.name}: {response.status} {response.body[:150]!r} changed={changed}")
    assert viewer.ok(live_server, "GET", f"/v1/apps/{b.project.id}/segments/{b.segment_id}")["Name"] == "B-segment"
    assert not failures, "\n".join(failures)


def test_installation_wide_templates_follow_their_sharing_rule(live_server, tenants):
    """Templates belong to the installation: members read them, only owners/editors change them,
    and a user in no project sees none. (`tenants` made the template sec-welcome.)"""
    viewer = tenant(live_server, "victor")
    viewer_user = viewer.project.memberships.get().user
    Membership.objects.filter(user=viewer_user).update(role=Role.VIEWER)
    loner = tenant(live_server, "lonely")
    Membership.objects.filter(user=loner.project.memberships.get().user).delete()
    template = "/v1/templates/sec-welcome/email"
    before = snapshot()

    assert viewer.ok(live_server, "GET", template)["TemplateName"] == "sec-welcome"
    for method, body in (("PUT", {"Subject": "hijack"}), ("DELETE", None), ("POST", {"Subject": "x"})):
        path = template if method != "POST" else "/v1/templates/sec-new/email"
        assert refused(viewer.call(live_server, method, path, body)) is None
        assert refused(loner.call(live_server, method, path, body)) is None
    assert refused(loner.call(live_server, "GET", template)) is None
    assert refused(loner.call(live_server, "GET", "/v1/templates")) is None
    assert differences(before, snapshot()) == []
