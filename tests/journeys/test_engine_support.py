"""Builders and fixtures of the journey engine tests (imported by them): endpoints, segments,
journeys made with the ORM (as the definition service stores them), a tick at a controlled time."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audience.models import Endpoint, cohort_of
from audience.segments import segment_create
from campaigns.channels import channel_update
from campaigns.templates import template_create
from journeys.engine import journeys_tick
from journeys.models import Journey

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}


def endpoint(project, endpoint_id, address="", *, plan="pro", **fields) -> Endpoint:
    fields.setdefault("channel_type", "EMAIL")
    fields.setdefault("attributes", {"Plan": [plan], "FirstName": [endpoint_id.title()]})
    return Endpoint.objects.create(
        project=project,
        endpoint_id=endpoint_id,
        key=endpoint_id.lower(),
        address=address or f"{endpoint_id}@example.org",
        effective_date=NOW - timedelta(days=3),
        creation_date=NOW - timedelta(days=3),
        cohort_id=cohort_of(endpoint_id),
        **fields,
    )


def make_journey(project, activities, start, *, segment=None, state="ACTIVE", now=NOW, **definition) -> Journey:
    body = {"Name": "j", "Activities": activities, "StartActivity": start}
    if segment is not None and "StartCondition" not in definition:
        body["StartCondition"] = {"SegmentStartCondition": {"SegmentId": segment.pk}}
    body.update(definition)
    return Journey.objects.create(
        project=project,
        name="j",
        state=state,
        definition=body,
        segment=segment,
        start_time=now,
        next_refresh_at=now if "EventStartCondition" not in (body.get("StartCondition") or {}) else None,
    )


def tick(now=NOW) -> int:
    with time_machine.travel(now, tick=False):
        return journeys_tick(now)


def email(next_activity=None, template="welcome") -> dict:
    body = {"TemplateName": template}
    if next_activity:
        body["NextActivity"] = next_activity
    return {"EMAIL": body}


@pytest.fixture
def pro(project):
    return segment_create(project, name="pro", dimensions=PRO)


@pytest.fixture
def welcome(db):
    return template_create("EMAIL", "welcome", {"Subject": "Hi {{Attributes.FirstName}}", "TextPart": "Hello!"})


@pytest.fixture
def email_on(project):
    return channel_update(
        project, "EMAIL", {"Enabled": True, "FromAddress": "news@example.com", "Identity": "example.com"}, by="t"
    )


@pytest.fixture
def sms_on(project):
    return channel_update(project, "SMS", {"ShortCode": "+15005550006"}, by="test", extensions=True)
