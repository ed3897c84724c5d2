"""The journey engine with controlled time: admission, every activity type, waits and states."""
# ruff: noqa: F811 - pytest fixtures imported from test_engine_support are parameters here

from datetime import timedelta

from audience.models import Event
from audience.segments import segment_create
from campaigns.models import Delivery, DeliveryStatus
from journeys.engine import journey_activity_metrics, journey_execution_metrics
from journeys.engine.messages import delivery_key
from journeys.models import JourneyParticipant, JourneyRun, JourneyStep
from tests.journeys.test_engine_support import (  # noqa: F401 - fixtures
    NOW,
    email,
    email_on,
    endpoint,
    make_journey,
    pro,
    tick,
    welcome,
)

SPLIT_ON_OPEN = {
    "ConditionalSplit": {
        "Condition": {
            "Conditions": [
                {
                    "EventCondition": {
                        "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.open"]}},
                        "MessageActivity": "mail",
                    }
                }
            ],
            "Operator": "ALL",
        },
        "EvaluationWaitTime": {"WaitFor": "P1D"},
        "TrueActivity": "thanks",
        "FalseActivity": "nudge",
    }
}


def steps_of(journey) -> dict[tuple[str, str], str]:
    return {(s.participant.endpoint_key, s.activity_id): s.status for s in JourneyStep.objects.filter(journey=journey)}


def states(journey) -> dict[str, tuple[str, str]]:
    return {p.endpoint_key: (p.activity_id, p.state) for p in JourneyParticipant.objects.filter(journey=journey)}


def test_segment_journey_admits_members_and_sends_them_the_email(project, pro, welcome, email_on):
    endpoint(project, "ann")
    endpoint(project, "bob")
    endpoint(project, "cat", plan="free")
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro)

    tick(NOW)

    assert states(journey) == {"ann": ("mail", "DONE"), "bob": ("mail", "DONE")}
    rows = Delivery.objects.filter(journey_id=journey.id).order_by("address")
    assert [(r.address, r.subject, r.source, r.journey_activity_id) for r in rows] == [
        ("ann@example.org", "Hi Ann", "JOURNEY", "mail"),
        ("bob@example.org", "Hi Bob", "JOURNEY", "mail"),
    ]
    ann = JourneyParticipant.objects.get(journey=journey, endpoint_key="ann")
    assert rows[0].message_id.strip("<>").partition("@")[0] == delivery_key(ann.id, "mail")
    assert rows[0].journey_run_id == ann.run_id
    event = Event.objects.get(endpoint_key="ann", event_type="_journey.send")
    assert event.attributes == {
        "journey_id": journey.id,
        "journey_activity_id": "mail",
        "journey_run_id": ann.run_id,
        "journey_activity_type": "EMAIL",
        "journey_send_status": "SUCCESS",
    }
    assert steps_of(journey) == {("ann", "mail"): "SUCCESS", ("bob", "mail"): "SUCCESS"}


def test_a_second_tick_admits_no_one_twice(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro)

    tick(NOW)
    tick(NOW + timedelta(minutes=1))

    assert JourneyRun.objects.filter(journey=journey).count() == 1
    assert JourneyParticipant.objects.filter(journey=journey).count() == 1
    assert Delivery.objects.count() == 1


def test_wait_for_holds_until_its_time_then_moves_on(project, pro, welcome, email_on):
    endpoint(project, "ann")
    activities = {"pause": {"Wait": {"WaitTime": {"WaitFor": "PT2H"}, "NextActivity": "mail"}}, "mail": email()}
    journey = make_journey(project, activities, "pause", segment=pro)

    tick(NOW)
    before = states(journey)
    due = JourneyParticipant.objects.get().next_at
    tick(NOW + timedelta(hours=1, minutes=59))
    still = states(journey)
    tick(NOW + timedelta(hours=2))

    assert before == still == {"ann": ("pause", "ACTIVE")}
    assert due == NOW + timedelta(hours=2)
    assert states(journey) == {"ann": ("mail", "DONE")}
    assert steps_of(journey) == {("ann", "pause"): "WAITED", ("ann", "mail"): "SUCCESS"}


def test_wait_until_a_past_instant_does_not_wait(project, pro):
    endpoint(project, "ann")
    activities = {"w": {"Wait": {"WaitTime": {"WaitUntil": "2026-11-01T00:00:00Z"}}}}
    journey = make_journey(project, activities, "w", segment=pro)

    tick(NOW)

    assert states(journey) == {"ann": ("w", "DONE")}


def test_wait_until_holds_until_the_instant(project, pro):
    endpoint(project, "ann")
    activities = {"w": {"Wait": {"WaitTime": {"WaitUntil": "2026-12-01T09:00:00Z"}}}}
    make_journey(project, activities, "w", segment=pro)

    tick(NOW)

    assert JourneyParticipant.objects.get().next_at.isoformat() == "2026-12-01T09:00:00+00:00"


def test_yes_no_split_on_email_opened_waits_then_branches(project, pro, welcome, email_on):
    endpoint(project, "ann")
    endpoint(project, "bob")
    activities = {
        "mail": email("check"),
        "check": SPLIT_ON_OPEN,
        "thanks": {"Wait": {"WaitTime": {"WaitFor": "PT1M"}}},
        "nudge": {"Holdout": {"Percentage": 0}},
    }
    journey = make_journey(project, activities, "mail", segment=pro)
    tick(NOW)
    ann = Delivery.objects.get(endpoint_key="ann")
    Event.objects.create(
        project=project,
        endpoint_key="ann",
        client_event_id="open-1",
        event_type="_email.open",
        timestamp=NOW + timedelta(hours=3),
        attributes={"message_id": ann.message_id.strip("<>")},
    )
    Event.objects.create(  # bob opened another message: not this activity's
        project=project,
        endpoint_key="bob",
        client_event_id="open-2",
        event_type="_email.open",
        timestamp=NOW + timedelta(hours=3),
        attributes={"message_id": "something-else@example.com"},
    )

    tick(NOW + timedelta(hours=23))
    waiting = states(journey)
    tick(NOW + timedelta(days=1))

    assert waiting == {"ann": ("check", "ACTIVE"), "bob": ("check", "ACTIVE")}
    assert steps_of(journey)[("ann", "check")] == "TRUE"
    assert steps_of(journey)[("bob", "check")] == "FALSE"
    assert states(journey) == {"ann": ("thanks", "ACTIVE"), "bob": ("nudge", "DONE")}
    metrics = journey_activity_metrics(journey, "check")["Metrics"]
    assert (metrics["Branch_1"], metrics["Branch_2"]) == ("1", "1")


def test_conditional_split_on_segment_and_dimensions(project, pro):
    endpoint(project, "ann", attributes={"Plan": ["pro"], "Tier": ["gold"]})
    endpoint(project, "bob", attributes={"Plan": ["pro"], "Tier": ["basic"]})
    gold = {"Attributes": {"Tier": {"AttributeType": "INCLUSIVE", "Values": ["gold"]}}}
    activities = {
        "split": {
            "ConditionalSplit": {
                "Condition": {
                    "Conditions": [{"SegmentCondition": {"SegmentId": pro.pk}}, {"segmentDimensions": gold}],
                    "Operator": "ALL",
                },
                "TrueActivity": "yes",
                "FalseActivity": "no",
            }
        },
        "yes": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
        "no": {"Wait": {"WaitTime": {"WaitFor": "P2D"}}},
    }
    journey = make_journey(project, activities, "split", segment=pro)

    tick(NOW)

    assert states(journey) == {"ann": ("yes", "ACTIVE"), "bob": ("no", "ACTIVE")}


def test_multi_condition_takes_the_first_matching_branch_else_the_default(project, pro):
    endpoint(project, "ann", attributes={"Plan": ["pro"], "Tier": ["gold"]})
    endpoint(project, "bob", attributes={"Plan": ["pro"], "Tier": ["silver"]})
    endpoint(project, "cat", attributes={"Plan": ["pro"]})

    def tier(value):
        return {"segmentDimensions": {"Attributes": {"Tier": {"AttributeType": "INCLUSIVE", "Values": [value]}}}}

    activities = {
        "multi": {
            "MultiCondition": {
                "Branches": [
                    {"Condition": tier("gold"), "NextActivity": "a"},
                    {"Condition": tier("silver"), "NextActivity": "b"},
                ],
                "DefaultActivity": "c",
            }
        },
        "a": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
        "b": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
        "c": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
    }
    journey = make_journey(project, activities, "multi", segment=pro)

    tick(NOW)

    assert states(journey) == {"ann": ("a", "ACTIVE"), "bob": ("b", "ACTIVE"), "cat": ("c", "ACTIVE")}
    assert steps_of(journey) == {
        ("ann", "multi"): "BRANCH_1",
        ("bob", "multi"): "BRANCH_2",
        ("cat", "multi"): "DEFAULT",
    }
    metrics = journey_activity_metrics(journey, "multi")["Metrics"]
    assert (metrics["Branch_1"], metrics["Branch_2"], metrics["Branch_3"]) == ("1", "1", "1")


def test_random_split_is_stable_and_follows_the_percentages(project, pro):
    for i in range(200):
        endpoint(project, f"e{i:03d}")
    activities = {
        "coin": {"RandomSplit": {"Branches": [{"Percentage": 30, "NextActivity": "a"}, {"Percentage": 70}]}},
        "a": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
    }
    journey = make_journey(project, activities, "coin", segment=pro)

    tick(NOW)

    counts = {s: JourneyStep.objects.filter(journey=journey, status=s).count() for s in ("BRANCH_1", "BRANCH_2")}
    assert counts["BRANCH_1"] + counts["BRANCH_2"] == 200
    assert 35 <= counts["BRANCH_1"] <= 85  # 30 % of 200, loosely: the hash is stable, not exact
    in_a = set(JourneyParticipant.objects.filter(journey=journey, activity_id="a").values_list("id", flat=True))
    went_a = set(
        JourneyStep.objects.filter(journey=journey, status="BRANCH_1").values_list("participant_id", flat=True)
    )
    assert in_a == went_a


def test_holdout_exits_its_percentage(project, pro):
    for i in range(100):
        endpoint(project, f"e{i:03d}")
    activities = {"hold": {"Holdout": {"Percentage": 100, "NextActivity": "w"}}, "w": {"Wait": {}}}
    journey = make_journey(project, activities, "hold", segment=pro)

    tick(NOW)

    assert set(JourneyParticipant.objects.filter(journey=journey).values_list("state", flat=True)) == {"EXITED"}
    assert journey_activity_metrics(journey, "hold")["Metrics"]["HOLDOUT"] == "100"


def test_contact_center_is_unsupported_and_exits(project, pro):
    endpoint(project, "ann")
    journey = make_journey(project, {"call": {"ContactCenter": {"NextActivity": "x"}}}, "call", segment=pro)

    tick(NOW)

    assert states(journey) == {"ann": ("call", "EXITED")}
    assert steps_of(journey) == {("ann", "call"): "UNSUPPORTED"}


def test_local_time_excludes_endpoints_without_a_time_zone(project, pro):
    endpoint(project, "ann", timezone="Europe/Berlin")
    endpoint(project, "bob")
    journey = make_journey(project, {"w": {"Wait": {}}}, "w", segment=pro, LocalTime=True)

    tick(NOW)

    assert set(states(journey)) == {"ann"}


def test_refresh_frequency_makes_new_runs_and_reentry_follows_the_limits(project, pro):
    endpoint(project, "ann")
    journey = make_journey(
        project,
        {"w": {"Wait": {"WaitTime": {"WaitFor": "PT30M"}}}},
        "w",
        segment=pro,
        RefreshFrequency="PT1H",
        Limits={"EndpointReentryCap": 2, "EndpointReentryInterval": "PT90M"},
    )

    tick(NOW)  # entry 1
    tick(NOW + timedelta(hours=1))  # done at 12:30, but the interval (90 min) has not passed
    tick(NOW + timedelta(hours=2))  # entry 2
    tick(NOW + timedelta(hours=4))  # the cap (2 entries) is reached

    assert JourneyRun.objects.filter(journey=journey).count() == 4
    participants = JourneyParticipant.objects.filter(journey=journey).order_by("entry")
    entries = list(participants.values_list("entry", "run__scheduled_at"))
    assert entries == [(1, NOW), (2, NOW + timedelta(hours=2))]
    journey.refresh_from_db()
    assert journey.next_refresh_at == NOW + timedelta(hours=5)


def test_without_reentry_limits_an_endpoint_enters_once(project, pro):
    endpoint(project, "ann")
    journey = make_journey(project, {"w": {"Wait": {}}}, "w", segment=pro, RefreshFrequency="PT1H")

    tick(NOW)
    tick(NOW + timedelta(hours=1))

    assert JourneyParticipant.objects.filter(journey=journey).count() == 1


def test_an_active_participant_is_not_admitted_again(project, pro):
    endpoint(project, "ann")
    journey = make_journey(
        project,
        {"w": {"Wait": {"WaitTime": {"WaitFor": "P7D"}}}},
        "w",
        segment=pro,
        RefreshFrequency="PT1H",
        Limits={"EndpointReentryCap": 0},
    )

    tick(NOW)
    tick(NOW + timedelta(hours=1))

    assert JourneyParticipant.objects.filter(journey=journey).count() == 1


def test_journey_metrics_count_entries_activity_and_departures(project, pro, welcome, email_on):
    endpoint(project, "ann")
    endpoint(project, "bob", plan="free")
    everyone = segment_create(project, name="all", dimensions={})
    activities = {
        "split": {
            "ConditionalSplit": {
                "Condition": {"Conditions": [{"SegmentCondition": {"SegmentId": pro.pk}}]},
                "TrueActivity": "mail",
                "FalseActivity": "w",
            }
        },
        "mail": email(),
        "w": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
    }
    journey = make_journey(project, activities, "split", segment=everyone)

    tick(NOW)

    run = JourneyRun.objects.get(journey=journey)
    metrics = journey_execution_metrics(journey)
    assert metrics["Metrics"] == {
        "ENDPOINT_ENTERED": "2",
        "ENDPOINT_ACTIVE": "1",
        "ENDPOINT_LEFT": "1",
        "CANCELLED": "0",
        "REENTRY_CAP_EXCEEDED": "0",
        "ACTIVE_ENDPOINT_REJECTED": "0",
    }
    scoped = journey_execution_metrics(journey, run=run)
    assert scoped["RunId"] == run.id and scoped["Metrics"]["ENDPOINT_PRODUCED"] == "2"
    mail = journey_activity_metrics(journey, "mail", run=run)
    assert mail["ActivityType"] == "MESSAGE" and mail["RunId"] == run.id
    assert mail["Metrics"] == {"ACTIVE": "0", "SUCCESS": "1", "PENDING": "1"}
    assert journey_activity_metrics(journey, "w")["Metrics"] == {"ACTIVE": "1"}
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED
