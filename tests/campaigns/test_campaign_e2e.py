"""Campaigns end to end, on both databases: endpoints imported from a CSV file by an import job
(CreateImportJob through boto3, the file on the moto S3 server), a dynamic segment and campaigns
created through boto3 against the live server, the scheduler tick and the run steps and the outbox
run as the worker would run them (the test suite's synchronous queue), the messages received by a
real SMTP server on loopback (aiosmtpd)."""
# ruff: noqa: F811 - pytest fixtures imported from test_deliveries are parameters here

import zoneinfo
from collections import Counter
from datetime import UTC, timedelta

import pytest
import time_machine
from django.utils import timezone

from audience.models import Event, cohort_of
from campaigns.runs import campaigns_start_due
from tests.campaigns.test_deliveries import smtp_sink  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)

ROLE = "arn:aws:iam::123456789012:role/PinpointImport"
PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
ZONES = ("Asia/Tokyo", "America/New_York")
HOLDOUT, B_SIZE = 10, 30  # treatment "0" (A) gets the remaining 60 cohorts
A_EMAIL = {
    "Title": "Hi {{Attributes.FirstName}}",
    "Body": "Hello {{Attributes.FirstName}} in {{User.UserAttributes.City}}: A",
    "HtmlBody": "<p>Hello {{Attributes.FirstName}} in {{User.UserAttributes.City}}: A</p>",
}
B_EMAIL = {
    "Title": "Hey {{Attributes.FirstName}}, a gift",
    "Body": "Dear {{Attributes.FirstName}} of {{User.UserAttributes.City}}: B",
}


def people(count: int = 400) -> list[dict]:
    """The rows of the imported file: every tenth on the free plan (outside the segment), every
    37th opted out, half in Tokyo and half in New York."""
    rows = []
    for n in range(count):
        rows.append(
            {
                "id": f"person-{n:04d}",
                "address": f"person{n}@example.org",
                "name": f"Name{n}",
                "plan": "free" if n % 10 == 9 else "pro",
                "opt_out": "ALL" if n % 37 == 5 else "NONE",
                "zone": ZONES[n % 2],
                "user": f"user-{n}",
                "city": f"City{n % 7}",
            }
        )
    return rows


def csv_of(rows: list[dict]) -> str:
    header = (
        "Id,ChannelType,Address,OptOut,Attributes.FirstName,Attributes.Plan,Demographic.Timezone,"
        "User.UserId,User.UserAttributes.City"
    )
    lines = [header] + [
        f"{r['id']},EMAIL,{r['address']},{r['opt_out']},{r['name']},{r['plan']},{r['zone']},{r['user']},{r['city']}"
        for r in rows
    ]
    return "\r\n".join(lines) + "\r\n"


def arm(row: dict) -> str:
    """The expected allocation of an endpoint: HOLDOUT, "0" (A) or "1" (B), by its cohort."""
    cohort = cohort_of(row["id"])
    if cohort < HOLDOUT:
        return "HOLDOUT"
    return "0" if cohort < 100 - B_SIZE else "1"


def send_statuses(project, activity_id: str) -> dict[str, str]:
    events = Event.objects.filter(
        project=project, event_type="_campaign.send", attributes__campaign_activity_id=activity_id
    )
    return {e.endpoint_key: e.attributes["campaign_send_status"] for e in events}


@pytest.fixture
def imported(pinpoint, project, s3):
    """400 endpoints imported by a CreateImportJob from a CSV file, an EMAIL channel and the "pro"
    dynamic segment, all through boto3."""
    rows = people()
    url = s3.put("imports/people.csv", csv_of(rows))
    job = pinpoint.create_import_job(
        ApplicationId=project.id,
        ImportJobRequest={"Format": "CSV", "S3Url": url, "RoleArn": ROLE, "RegisterEndpoints": True},
    )["ImportJobResponse"]
    job = pinpoint.get_import_job(ApplicationId=project.id, JobId=job["Id"])["ImportJobResponse"]
    assert (job["JobStatus"], job["TotalProcessed"], job["TotalFailures"]) == ("COMPLETED", len(rows), 0)
    pinpoint.update_email_channel(
        ApplicationId=project.id,
        EmailChannelRequest={
            "Enabled": True,
            "FromAddress": "news@example.com",
            "Identity": "arn:aws:ses:us-east-1:000000000000:identity/example.com",
        },
    )
    segment = pinpoint.create_segment(ApplicationId=project.id, WriteSegmentRequest={"Name": "Pro", "Dimensions": PRO})[
        "SegmentResponse"
    ]
    return rows, segment["Id"]


def test_ab_campaign_with_holdout_reaches_exactly_its_recipients_with_personalised_content(
    pinpoint, project, imported, smtp_sink
):
    rows, segment_id = imported
    members = [r for r in rows if r["plan"] == "pro"]
    reachable = [r for r in members if arm(r) != "HOLDOUT" and r["opt_out"] == "NONE"]
    campaign = pinpoint.create_campaign(
        ApplicationId=project.id,
        WriteCampaignRequest={
            "Name": "Spring sale",
            "SegmentId": segment_id,
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
            "MessageConfiguration": {"EmailMessage": A_EMAIL},
            "HoldoutPercent": HOLDOUT,
            "TreatmentName": "A",
            "AdditionalTreatments": [
                {"SizePercent": B_SIZE, "TreatmentName": "B", "MessageConfiguration": {"EmailMessage": B_EMAIL}}
            ],
        },
    )["CampaignResponse"]

    made = campaigns_start_due()  # the tick; the run steps and the outbox run as its tasks

    assert len(made) == 1
    received = {m["To"]: m for m in smtp_sink.messages}
    assert len(smtp_sink.messages) == len(received)  # one message per recipient
    assert sorted(received) == sorted(r["address"] for r in reachable)
    for r in reachable:
        message = received[r["address"]]
        text = message.get_body(("plain",)).get_content().strip()
        if arm(r) == "0":
            assert message["Subject"] == f"Hi {r['name']}"
            assert text == f"Hello {r['name']} in {r['city']}: A"
            assert message.get_body(("html",)).get_content().strip() == f"<p>Hello {r['name']} in {r['city']}: A</p>"
        else:
            assert message["Subject"] == f"Hey {r['name']}, a gift"
            assert text == f"Dear {r['name']} of {r['city']}: B"
    split = Counter(arm(r) for r in members)
    assert abs(split["1"] / (split["0"] + split["1"]) - B_SIZE / (100 - HOLDOUT)) < 0.08
    assert abs(split["HOLDOUT"] / len(members) - HOLDOUT / 100) < 0.05
    activities = {
        a["TreatmentId"]: a
        for a in pinpoint.get_campaign_activities(ApplicationId=project.id, CampaignId=campaign["Id"])[
            "ActivitiesResponse"
        ]["Item"]
    }
    sent_to = Counter(arm(r) for r in reachable)
    opted_out = Counter(arm(r) for r in members if arm(r) != "HOLDOUT" and r["opt_out"] == "ALL")
    assert activities["0"]["ExecutionMetrics"] == {
        k: str(v)
        for k, v in {
            "SUCCESS": sent_to["0"],
            "TREATMENT_HOLDOUT": split["HOLDOUT"],
            "ENDPOINT_OPT_OUT": opted_out["0"],
        }.items()
        if v
    }
    assert activities["1"]["ExecutionMetrics"] == {
        k: str(v) for k, v in {"SUCCESS": sent_to["1"], "ENDPOINT_OPT_OUT": opted_out["1"]}.items() if v
    }
    assert (activities["0"]["SuccessfulEndpointCount"], activities["1"]["SuccessfulEndpointCount"]) == (
        sent_to["0"],
        sent_to["1"],
    )
    assert {a["State"] for a in activities.values()} == {"COMPLETED"}
    statuses = send_statuses(project, activities["0"]["Id"]) | send_statuses(project, activities["1"]["Id"])
    expected = {r["id"]: "SUCCESS" for r in reachable} | {r["id"]: "HOLDOUT" for r in members if arm(r) == "HOLDOUT"}
    assert statuses == expected  # opted-out endpoints are a metric only, as in Pinpoint


def test_caps_and_quiet_time_are_decided_per_run_and_reported(pinpoint, project, imported, smtp_sink):
    rows, segment_id = imported
    reachable = [r for r in rows if r["plan"] == "pro" and r["opt_out"] == "NONE"]
    tokyo = {r["id"] for r in reachable if r["zone"] == "Asia/Tokyo"}
    new_york = {r["id"] for r in reachable if r["zone"] == "America/New_York"}
    opted_out = sum(1 for r in rows if r["plan"] == "pro" and r["opt_out"] == "ALL")
    start = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    local = start.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    # Quiet in Tokyo from 2 hours before the start to 3 hours after it (local time); New York's
    # local time is 13 or 14 hours away from Tokyo's, never inside that window.
    quiet = {"Start": f"{(local - timedelta(hours=2)):%H:%M}", "End": f"{(local + timedelta(hours=3)):%H:%M}"}
    campaign = pinpoint.create_campaign(
        ApplicationId=project.id,
        WriteCampaignRequest={
            "Name": "Hourly news",
            "SegmentId": segment_id,
            "Schedule": {
                "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "EndTime": (start + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Frequency": "HOURLY",
                "QuietTime": quiet,
            },
            "Limits": {"Daily": 1, "Total": 2},
            "MessageConfiguration": {"EmailMessage": A_EMAIL},
        },
    )["CampaignResponse"]

    # Runs of the starts T, T+1h, T+2h and T+3h, ticked at T, T+1h, T+25h and T+25h01.
    for at in (start, start + timedelta(hours=1), start + timedelta(hours=25), start + timedelta(hours=25, minutes=1)):
        with time_machine.travel(at, tick=False):
            assert len(campaigns_start_due()) == 1

    activities = sorted(
        pinpoint.get_campaign_activities(ApplicationId=project.id, CampaignId=campaign["Id"])["ActivitiesResponse"][
            "Item"
        ],
        key=lambda a: a["ScheduledStart"],
    )
    assert len(activities) == 4
    others = {"QUIET_TIME": str(len(tokyo)), "ENDPOINT_OPT_OUT": str(opted_out)}
    assert [a["ExecutionMetrics"] for a in activities] == [
        {"SUCCESS": str(len(new_york)), **others},
        {"DAILY_CAP": str(len(new_york)), **others},
        {"SUCCESS": str(len(new_york)), **others},
        {"CAMPAIGN_CAP": str(len(new_york)), **others},
    ]
    expected = (("SUCCESS", "QUIET_TIME"), ("DAILY_CAP", "QUIET_TIME"), ("SUCCESS", "QUIET_TIME"))
    expected += (("CAMPAIGN_CAP", "QUIET_TIME"),)
    for activity, (new_york_status, tokyo_status) in zip(activities, expected, strict=True):
        statuses = send_statuses(project, activity["Id"])
        assert statuses == {k: new_york_status for k in new_york} | {k: tokyo_status for k in tokyo}
        attributes = Event.objects.filter(
            project=project, event_type="_campaign.send", attributes__campaign_activity_id=activity["Id"]
        ).values_list("attributes", flat=True)[0]
        assert (attributes["campaign_id"], attributes["treatment_id"], attributes["delivery_type"]) == (
            campaign["Id"],
            "0",
            "EMAIL",
        )
    addresses = Counter(m["To"] for m in smtp_sink.messages)
    assert addresses == Counter({f"person{int(k.split('-')[1])}@example.org": 2 for k in new_york})


def test_the_imported_zones_and_cohorts_are_what_the_allocation_reads(pinpoint, project, imported):
    rows, _ = imported

    answer = pinpoint.get_endpoint(ApplicationId=project.id, EndpointId=rows[0]["id"])["EndpointResponse"]

    assert answer["CohortId"] == str(cohort_of(rows[0]["id"]))
    assert answer["Demographic"]["Timezone"] == rows[0]["zone"]
    assert answer["User"]["UserAttributes"] == {"City": [rows[0]["city"]]}
