"""The analytics rollup: events stored through PutEvents (boto3) and by Engage itself are counted
per day, source, channel and activity in the transaction that stores them; a rebuild from the events
gives the same rows."""

import io
from datetime import UTC, date, datetime

import pytest
from django.core.management import CommandError, call_command

from audience.analytics.rollups import (
    ACTIVE,
    BOUNCED_AFTER,
    CLICK_UNIQUE,
    OPEN_UNIQUE,
    SEND_ACCEPTED,
    SEND_FAILED,
    SMS_PARTS,
    active_endpoints,
    rollup_rebuild,
    rollup_sum,
)
from audience.models import AnalyticsSeen, Event, MetricDay
from audience.services import SystemEvent, events_record
from engage.db import insert_new_returning, upsert_add

pytestmark = pytest.mark.django_db(transaction=True)

DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)
T1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)


def put(pinpoint, project, endpoint_id: str, events: dict[str, tuple[str, str]]):
    request = {
        "BatchItem": {
            endpoint_id: {
                "Endpoint": {"ChannelType": "EMAIL", "Address": f"{endpoint_id}@example.org"},
                "Events": {
                    event_id: {"EventType": kind, "Timestamp": stamp} for event_id, (kind, stamp) in events.items()
                },
            }
        }
    }
    return pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)


def table(project) -> dict[tuple, int]:
    return {
        (r.day, r.source, r.channel, r.campaign_id, r.campaign_activity_id, r.treatment_id, r.metric): r.value
        for r in MetricDay.objects.filter(project=project)
    }


def app_counts(project, day) -> dict[str, int]:
    return {r.metric: r.value for r in MetricDay.objects.filter(project=project, day=day, source="APP")}


def test_put_events_are_counted_per_day_once_and_endpoints_active_once_a_day(pinpoint, project):
    put(
        pinpoint,
        project,
        "ann",
        {
            "a": ("_session.start", "2026-11-20T10:00:00Z"),
            "b": ("pageView", "2026-11-20T11:00:00Z"),
            "c": ("pageView", "2026-11-21T01:00:00Z"),
        },
    )
    put(pinpoint, project, "bob", {"d": ("pageView", "2026-11-20T12:00:00Z")})
    # The same request again (a client retry) and one new event of ann's on day 1.
    put(pinpoint, project, "bob", {"d": ("pageView", "2026-11-20T12:00:00Z")})
    put(pinpoint, project, "ann", {"e": ("pageView", "2026-11-20T13:00:00Z")})

    assert app_counts(project, DAY1) == {"_session.start": 1, "pageView": 3, ACTIVE: 2}
    assert app_counts(project, DAY2) == {"pageView": 1, ACTIVE: 1}
    assert active_endpoints(project.id, DAY1, DAY1) == 2
    assert active_endpoints(project.id, DAY1, DAY2) == 2
    assert active_endpoints(project.id, DAY2, DAY2) == 1


def email_event(key, event_id, kind, when=T1, **attributes):
    base = {"campaign_id": "c1", "campaign_activity_id": "a1", "treatment_id": "0", "message_id": f"m-{key}"}
    return SystemEvent("", key, event_id, kind, when, {**base, **attributes})


def test_engage_events_count_sends_failures_bounces_and_first_opens(project):
    events = [
        email_event("ann", "s-ann", "_email.send"),
        email_event("bob", "s-bob", "_email.send"),
        email_event("cy", "f-cy", "_email.hardbounce", error="550 no such user"),  # the outbox's failure
        email_event("bob", "b-bob", "_email.hardbounce"),  # a provider's bounce after accepting
        email_event("ann", "o1", "_email.open"),
        email_event("ann", "o2", "_email.open", when=T2),  # the same message, a day later
        email_event("ann", "k1", "_email.click"),
        SystemEvent(
            "",
            "dan",
            "cs-dan",
            "_campaign.send",
            T1,
            {
                "campaign_id": "c1",
                "campaign_activity_id": "a1",
                "treatment_id": "1",
                "delivery_type": "GCM",
                "campaign_send_status": "SUCCESS",
            },
        ),
        SystemEvent("", "eve", "tx-eve", "_SMS.BUFFERED", T1, {"number_of_message_parts": "2"}),
    ]
    events_record(
        [SystemEvent(project.id, e.endpoint_key, e.event_id, e.event_type, e.timestamp, e.attributes) for e in events]
    )
    events_record([SystemEvent(project.id, "ann", "o1", "_email.open", T1, events[4].attributes)])  # retried: nothing

    rows = table(project)
    campaign = {
        (day, channel, treatment, metric): value
        for (day, source, channel, cid, aid, treatment, metric), value in rows.items()
        if source == "CAMPAIGN"
    }
    assert campaign == {
        (DAY1, "EMAIL", "0", "_email.send"): 2,
        (DAY1, "EMAIL", "0", SEND_ACCEPTED): 2,
        (DAY1, "EMAIL", "0", "_email.hardbounce"): 2,
        (DAY1, "EMAIL", "0", SEND_FAILED): 1,
        (DAY1, "EMAIL", "0", BOUNCED_AFTER): 1,
        (DAY1, "EMAIL", "0", "_email.open"): 1,
        (DAY2, "EMAIL", "0", "_email.open"): 1,
        (DAY1, "EMAIL", "0", OPEN_UNIQUE): 1,
        (DAY1, "EMAIL", "0", "_email.click"): 1,
        (DAY1, "EMAIL", "0", CLICK_UNIQUE): 1,
        (DAY1, "GCM", "1", "_campaign.send:SUCCESS"): 1,
        (DAY1, "GCM", "1", SEND_ACCEPTED): 1,
    }
    transactional = {k[-1]: v for k, v in rows.items() if k[1] == "TRANSACTIONAL"}
    assert transactional == {"_SMS.BUFFERED": 1, SEND_ACCEPTED: 1, SMS_PARTS: 2}
    assert not [k for k in rows if k[1] == "APP"]  # Engage's own events make no endpoint active

    sent = rollup_sum(project.id, DAY1, DAY2, metrics=[SEND_ACCEPTED], group_by=["channel"], source="CAMPAIGN")
    assert sent == [{"channel": "EMAIL", "value": 2}, {"channel": "GCM", "value": 1}]
    by_day = rollup_sum(project.id, DAY1, DAY2, metrics=["_email.open"], group_by=["day"], campaign_id="c1")
    assert by_day == [{"day": DAY1, "value": 1}, {"day": DAY2, "value": 1}]
    assert rollup_sum(project.id, DAY2, DAY2, metrics=[SEND_ACCEPTED]) == [{"value": 0}]
    assert rollup_sum(project.id, DAY1, DAY1, metrics=[SEND_ACCEPTED], channel=["GCM", "SMS"]) == [{"value": 2}]


def test_a_rebuild_from_the_events_gives_the_live_rows(pinpoint, project):
    put(
        pinpoint,
        project,
        "ann",
        {"a": ("_session.start", "2026-11-20T10:00:00Z"), "b": ("buy", "2026-11-21T10:00:00Z")},
    )
    put(pinpoint, project, "bob", {"c": ("buy", "2026-11-21T10:00:00Z")})
    events_record(
        [
            SystemEvent(project.id, "ann", "s", "_email.send", T1, {"journey_id": "j1", "journey_activity_id": "mail"}),
            SystemEvent(project.id, "ann", "o", "_email.open", T2, {"journey_id": "j1", "message_id": "m"}),
        ]
    )
    live = table(project)
    live_seen = set(AnalyticsSeen.objects.filter(project=project).values_list("scope", "key", "day"))

    assert rollup_rebuild(project.id) == Event.objects.filter(project=project).count() == 5
    assert table(project) == live
    assert set(AnalyticsSeen.objects.filter(project=project).values_list("scope", "key", "day")) == live_seen
    assert MetricDay.objects.get(project=project, metric="_email.send").journey_activity_id == "mail"


def test_insert_new_returning_names_only_the_rows_it_inserted(project):
    first = [AnalyticsSeen(project=project, scope="active", key=k, day=DAY1) for k in ("a", "b")]
    assert sorted(insert_new_returning(AnalyticsSeen, first, ("key",))) == [("a",), ("b",)]
    again = [AnalyticsSeen(project=project, scope="active", key=k, day=DAY1) for k in ("b", "c")]
    assert insert_new_returning(AnalyticsSeen, again, ("key",)) == [("c",)]


def test_upsert_add_adds_to_existing_counters(project):
    key = (project.id, DAY1, "APP", "", "", "", "", "", "", "x")
    fields = (
        "project",
        "day",
        "source",
        "channel",
        "campaign_id",
        "campaign_activity_id",
        "treatment_id",
        "journey_id",
        "journey_activity_id",
        "metric",
    )
    upsert_add(MetricDay, fields, [(*key, 2)], "value")
    upsert_add(MetricDay, fields, [(*key, 3), (*key[:-1], "y", 1)], "value")
    assert dict(MetricDay.objects.values_list("metric", "value")) == {"x": 5, "y": 1}


def test_the_rebuild_command_recounts_every_project_or_the_ones_named(project):
    events_record([SystemEvent(project.id, "ann", "s", "_email.send", T1, {})])
    MetricDay.objects.all().delete()
    out = io.StringIO()

    call_command("analytics_rebuild", stdout=out)

    assert f"{project.id} ({project.name}): 1 event(s) counted" in out.getvalue()
    assert dict(MetricDay.objects.values_list("metric", "value")) == {"_email.send": 1, SEND_ACCEPTED: 1}
    with pytest.raises(CommandError, match="No such project: nope"):
        call_command("analytics_rebuild", "nope")


def test_put_events_refuses_the_names_the_rollup_counts_under(pinpoint, project):
    answer = put(
        pinpoint,
        project,
        "ann",
        {
            "a": (SEND_ACCEPTED, "2026-11-20T10:00:00Z"),
            "b": ("_campaign.send:SUCCESS", "2026-11-20T10:00:00Z"),
            "c": ("send.accepted.too", "2026-11-20T10:00:00Z"),
        },
    )

    results = answer["EventsResponse"]["Results"]["ann"]["EventsItemResponse"]
    assert results["a"]["StatusCode"] == results["b"]["StatusCode"] == 400
    assert "EventType send.accepted is reserved" in results["a"]["Message"]
    assert results["c"] == {"StatusCode": 202, "Message": "Accepted"}
    assert app_counts(project, DAY1) == {"send.accepted.too": 1, ACTIVE: 1}
