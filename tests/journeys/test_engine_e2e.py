"""Journeys end to end: PutEvents through boto3 → event entry → the advancer → the outbox → a real
SMTP server; a segment journey's email, wait and yes/no split on the email being opened."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here

from datetime import UTC, datetime, timedelta

import time_machine
from django.utils import timezone

from audience.segments import segment_create
from campaigns.models import Delivery, DeliveryStatus
from campaigns.tracking import email_open_record
from journeys.engine import journey_activity_metrics, journeys_tick
from journeys.engine.triggers import journey_events_admit
from journeys.models import JourneyParticipant, JourneyStep
from tests.campaigns.test_deliveries import smtp_sink  # noqa: F401 - fixture
from tests.journeys.test_engine_support import (  # noqa: F401 - fixtures
    PRO,
    email,
    email_on,
    endpoint,
    make_journey,
    pro,
    tick,
    welcome,
)

SIGNUP = {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["signup"]}}}


def iso(moment) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def put_event(pinpoint, project, endpoint_id: str, event_id: str, event_type: str = "signup", plan: str = "pro"):
    return pinpoint.put_events(
        ApplicationId=project.id,
        EventsRequest={
            "BatchItem": {
                endpoint_id: {
                    "Endpoint": {
                        "ChannelType": "EMAIL",
                        "Address": f"{endpoint_id}@example.org",
                        "Attributes": {"Plan": [plan], "FirstName": [endpoint_id.title()]},
                    },
                    "Events": {event_id: {"EventType": event_type, "Timestamp": iso(timezone.now())}},
                }
            }
        },
    )


def event_journey(project, segment=None, **definition):
    start = {"EventFilter": SIGNUP}
    if segment is not None:
        start["SegmentId"] = segment.pk
    journey = make_journey(
        project,
        {"mail": email("w"), "w": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}}},
        "mail",
        StartCondition={"EventStartCondition": start},
        now=timezone.now() - timedelta(minutes=10),
        **definition,
    )
    return journey


def test_a_matching_event_sends_the_journeys_email_within_the_call(pinpoint, project, smtp_sink, welcome, email_on):
    journey = event_journey(project)

    put_event(pinpoint, project, "ann", "ev-1")
    put_event(pinpoint, project, "ann", "ev-1")  # a retried call: the same event
    put_event(pinpoint, project, "bob", "ev-2", event_type="login")  # not the journey's event

    assert [(m["To"], m["Subject"]) for m in smtp_sink.messages] == [("ann@example.org", "Hi Ann")]
    participant = JourneyParticipant.objects.get(journey=journey)
    assert (participant.endpoint_key, participant.activity_id, participant.state) == ("ann", "w", "ACTIVE")
    assert participant.context["event_id"] == "ev-1"
    row = Delivery.objects.get()
    assert (row.status, row.journey_id, row.source) == (DeliveryStatus.SENT, journey.id, "JOURNEY")
    assert smtp_sink.messages[0]["Message-ID"] == row.message_id


def test_event_entry_limited_to_a_segment(pinpoint, project, smtp_sink, welcome, email_on):
    pro = segment_create(project, name="pro", dimensions=PRO)
    journey = event_journey(project, segment=pro)

    put_event(pinpoint, project, "ann", "ev-1", plan="free")
    put_event(pinpoint, project, "bob", "ev-2", plan="pro")

    assert [m["To"] for m in smtp_sink.messages] == ["bob@example.org"]
    assert list(JourneyParticipant.objects.filter(journey=journey).values_list("endpoint_key", flat=True)) == ["bob"]


def test_a_repeated_admission_task_admits_no_one_twice(project, welcome, email_on):
    endpoint(project, "ann")
    journey = event_journey(project, Limits={"EndpointReentryCap": 0})
    now = timezone.now()

    first = journey_events_admit(journey.id, [("ann", "ev-1")], triggered_at=now)
    JourneyParticipant.objects.update(state="DONE")  # even after it left, the same event does not re-admit
    second = journey_events_admit(journey.id, [("ann", "ev-1")], triggered_at=now)
    third = journey_events_admit(journey.id, [("ann", "ev-2")], triggered_at=now)

    assert (first, second, third) == (1, 0, 1)
    assert list(JourneyParticipant.objects.order_by("entry").values_list("entry", flat=True)) == [1, 2]


def test_segment_journey_email_wait_and_split_on_open_end_to_end(
    project, pro, smtp_sink, welcome, email_on, django_capture_on_commit_callbacks
):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    endpoint(project, "ann")
    endpoint(project, "bob")
    template_reminder = {"TemplateName": "welcome"}
    activities = {
        "mail": email("opened"),
        "opened": {
            "ConditionalSplit": {
                "Condition": {
                    "Conditions": [
                        {
                            "EventCondition": {
                                "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.open"]}},
                                "MessageActivity": "mail",
                            }
                        }
                    ]
                },
                "EvaluationWaitTime": {"WaitFor": "P2D"},
                "TrueActivity": "done",
                "FalseActivity": "reminder",
            }
        },
        "done": {"Holdout": {"Percentage": 0}},
        "reminder": {"EMAIL": template_reminder},
    }
    journey = make_journey(project, activities, "mail", segment=pro, now=now)

    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        journeys_tick(now)  # the send tasks run after commit, at the controlled time
    first = sorted(m["To"] for m in smtp_sink.messages)
    ann = Delivery.objects.get(endpoint_key="ann")
    email_open_record(ann, now=now + timedelta(hours=5))  # what the open pixel records
    later = now + timedelta(days=2)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        journeys_tick(later)

    assert first == ["ann@example.org", "bob@example.org"]
    assert sorted(m["To"] for m in smtp_sink.messages) == ["ann@example.org", "bob@example.org", "bob@example.org"]
    steps = dict(
        JourneyStep.objects.filter(journey=journey, activity_id="opened").values_list(
            "participant__endpoint_key", "status"
        )
    )
    assert steps == {"ann": "TRUE", "bob": "FALSE"}
    metrics = journey_activity_metrics(journey, "reminder")["Metrics"]
    assert (metrics["SUCCESS"], metrics["SENT"]) == ("1", "1")
