"""The campaign engine end to end: scheduler tick → run → batches → Delivery rows → the SMTP sink."""
# ruff: noqa: F811 - pytest fixtures imported from test_deliveries are parameters here

import hashlib
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.db.models import Count

from audience.models import Endpoint, Event, cohort_of
from audience.segments import segment_create
from campaigns.deliveries import deliveries_send_batch, message_id_for
from campaigns.models import (
    Campaign,
    CampaignActivity,
    CampaignRun,
    CampaignState,
    CampaignVersion,
    Delivery,
    DeliveryStatus,
    RunState,
)
from campaigns.runs import campaign_run_step, campaign_runs_sweep, campaign_send_to, campaigns_start_due, engine
from campaigns.runs.send import delivery_key, send_event_id
from campaigns.schedule import first_start, run_begins
from campaigns.templates import template_create, template_update
from tests.campaigns.test_deliveries import email_channel, smtp_sink  # noqa: F401 - fixtures

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
EMAIL = {"EmailMessage": {"Title": "Hi {{Attributes.FirstName}}", "Body": "Hello {{Attributes.FirstName}}!"}}


def endpoint(project, endpoint_id, address="", *, plan="pro", cohort=None, **fields) -> Endpoint:
    fields.setdefault("channel_type", "EMAIL")
    fields.setdefault("attributes", {"Plan": [plan], "FirstName": [endpoint_id.title()]})
    return Endpoint.objects.create(
        project=project,
        endpoint_id=endpoint_id,
        key=endpoint_id.lower(),
        address=address or f"{endpoint_id}@example.org",
        effective_date=NOW - timedelta(days=3),
        creation_date=NOW - timedelta(days=3),
        cohort_id=cohort_of(endpoint_id) if cohort is None else cohort,
        **fields,
    )


def make_campaign(project, segment, *, schedule=None, message=EMAIL, now=NOW, **definition) -> Campaign:
    schedule = schedule or {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}
    body = {"Name": "c", "Schedule": schedule, "SegmentId": segment.pk, "MessageConfiguration": message}
    body.update(definition)
    return Campaign.objects.create(
        project=project,
        name="c",
        segment=segment,
        frequency=schedule.get("Frequency", "ONCE"),
        definition=body,
        next_run_at=run_begins(schedule, first_start(schedule, now=now)),
    )


def run_all(campaign, now=NOW, *, capture=None):
    """One scheduler tick at `now`; the run's steps run (callbacks executed) until it ends."""
    with time_machine.travel(now, tick=False):
        made = campaigns_start_due(now)
        for run_id in made:
            while campaign_run_step(run_id):
                pass
    return made


def statuses(project) -> dict[str, str]:
    return {
        e.endpoint_key: e.attributes["campaign_send_status"]
        for e in Event.objects.filter(project=project, event_type="_campaign.send")
    }


@pytest.fixture
def pro(project):
    return segment_create(project, name="pro", dimensions=PRO)


def test_immediate_campaign_delivers_to_exactly_the_segment_with_personalised_content(
    project, pro, email_channel, smtp_sink, django_capture_on_commit_callbacks
):
    endpoint(project, "ann")
    endpoint(project, "bob")
    endpoint(project, "cat", plan="free")
    endpoint(project, "dan", opt_out="ALL")
    endpoint(project, "eve", channel_type="SMS", address="+15555550100")
    campaign = make_campaign(project, pro)

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        made = campaigns_start_due(NOW)

    assert sorted(m["To"] for m in smtp_sink.messages) == ["ann@example.org", "bob@example.org"]
    subjects = {m["To"]: m["Subject"] for m in smtp_sink.messages}
    assert subjects == {"ann@example.org": "Hi Ann", "bob@example.org": "Hi Bob"}
    assert smtp_sink.messages[0].get_body(("plain",)).get_content().strip() in ("Hello Ann!", "Hello Bob!")
    run = CampaignRun.objects.get(pk=made[0])
    activity = run.activities.get()
    campaign.refresh_from_db()
    assert (run.state, campaign.state, campaign.next_run_at) == (RunState.COMPLETED, CampaignState.COMPLETED, None)
    assert (activity.state, activity.result) == ("COMPLETED", "SUCCESS")
    assert (activity.total_endpoint_count, activity.successful_endpoint_count) == (2, 2)
    assert activity.execution_metrics == {"SUCCESS": 2, "ENDPOINT_OPT_OUT": 1, "ENDPOINT_CHANNEL_MISMATCH": 1}
    assert statuses(project) == {"ann": "SUCCESS", "bob": "SUCCESS"}
    event = Event.objects.get(endpoint_key="ann", event_type="_campaign.send")
    assert event.attributes == {
        "campaign_id": campaign.id,
        "campaign_activity_id": activity.id,
        "treatment_id": "0",
        "delivery_type": "EMAIL",
        "campaign_send_status": "SUCCESS",
    }
    assert set(Delivery.objects.values_list("campaign_id", "treatment_id", "source", "status")) == {
        (campaign.id, "0", "CAMPAIGN", DeliveryStatus.SENT)
    }


def test_a_second_tick_creates_no_second_run(project, pro):
    endpoint(project, "ann")
    make_campaign(project, pro, schedule={"StartTime": "2026-11-30T12:00:00Z", "Frequency": "ONCE"})

    first = campaigns_start_due(NOW)
    second = campaigns_start_due(NOW + timedelta(seconds=30))

    assert len(first) == 1 and second == []
    assert CampaignRun.objects.count() == 1
    assert CampaignActivity.objects.count() == 1


def test_recurring_schedule_creates_the_next_run(project, pro, email_channel):
    endpoint(project, "ann")
    schedule = {"StartTime": "2026-11-30T12:00:00Z", "EndTime": "2026-12-02T13:00:00Z", "Frequency": "DAILY"}
    campaign = make_campaign(project, pro, schedule=schedule)

    run_all(campaign, NOW)
    campaign.refresh_from_db()
    after_first = (campaign.state, campaign.next_run_at)
    run_all(campaign, NOW + timedelta(days=1))
    run_all(campaign, NOW + timedelta(days=2))
    campaign.refresh_from_db()

    assert after_first == (CampaignState.PENDING_NEXT_RUN, NOW + timedelta(days=1))
    starts = list(CampaignRun.objects.order_by("scheduled_start").values_list("scheduled_start", flat=True))
    assert starts == [NOW, NOW + timedelta(days=1), NOW + timedelta(days=2)]
    assert (campaign.state, campaign.next_run_at) == (CampaignState.COMPLETED, None)
    assert Delivery.objects.filter(endpoint_key="ann").count() == 3


def test_paused_campaign_skips_its_next_run(project, pro, email_channel):
    endpoint(project, "ann")
    schedule = {"StartTime": "2026-11-30T12:00:00Z", "EndTime": "2026-12-05T00:00:00Z", "Frequency": "DAILY"}
    campaign = make_campaign(project, pro, schedule=schedule)
    Campaign.objects.filter(pk=campaign.pk).update(is_paused=True, state=CampaignState.PAUSED)

    made = run_all(campaign, NOW)
    campaign.refresh_from_db()

    assert made == [] and not CampaignRun.objects.exists()
    assert (campaign.state, campaign.next_run_at) == (CampaignState.PAUSED, NOW + timedelta(days=1))


def test_ab_split_follows_cohort_allocation_and_the_holdout_gets_nothing(project, pro, email_channel):
    ids = [f"e{n:03d}" for n in range(300)]
    for endpoint_id in ids:
        endpoint(project, endpoint_id)
    treatment_b = {"Id": "1", "SizePercent": 30, "MessageConfiguration": {"EmailMessage": {"Title": "B", "Body": "b"}}}
    campaign = make_campaign(project, pro, HoldoutPercent=10, AdditionalTreatments=[treatment_b])

    run_all(campaign, NOW)

    expected = {"HOLDOUT": set(), "0": set(), "1": set()}
    for endpoint_id in ids:
        cohort = cohort_of(endpoint_id)
        expected["HOLDOUT" if cohort < 10 else "0" if cohort < 70 else "1"].add(endpoint_id)
    sent = {t: set(Delivery.objects.filter(treatment_id=t).values_list("endpoint_key", flat=True)) for t in "01"}
    assert sent == {"0": expected["0"], "1": expected["1"]}
    assert set(Delivery.objects.filter(treatment_id="1").values_list("subject", flat=True)) == {"B"}
    assert set(Delivery.objects.filter(treatment_id="0").values_list("subject", flat=True)) == {
        f"Hi {i.title()}" for i in expected["0"]
    }
    activities = {a.treatment_id: a for a in CampaignActivity.objects.all()}
    assert activities["0"].execution_metrics == {
        "SUCCESS": len(expected["0"]),
        "TREATMENT_HOLDOUT": len(expected["HOLDOUT"]),
    }
    assert activities["1"].successful_endpoint_count == len(expected["1"])
    holdout_events = {k for k, s in statuses(project).items() if s == "HOLDOUT"}
    assert holdout_events == expected["HOLDOUT"] and expected["HOLDOUT"]
    held = Event.objects.filter(endpoint_key=min(expected["HOLDOUT"]), event_type="_campaign.send").get()
    assert (held.attributes["treatment_id"], held.attributes["delivery_type"]) == ("0", "EMAIL")


def test_caps_and_quiet_time_are_decided_recorded_as_events_and_metrics(project, pro, email_channel):
    project.settings.limits_daily = 2
    project.settings.save()
    for endpoint_id in ("ann", "bob", "cat", "dan", "eve"):
        endpoint(project, endpoint_id, timezone="Asia/Tokyo" if endpoint_id == "dan" else "")
    campaign = make_campaign(
        project,
        pro,
        Limits={"Daily": 1, "Total": 2},
        schedule={"StartTime": "IMMEDIATE", "Frequency": "ONCE", "QuietTime": {"Start": "20:00", "End": "08:00"}},
    )

    def delivery(key, when, **fields):
        Delivery.objects.create(
            project=project, channel="EMAIL", address=f"{key}@example.org", endpoint_key=key,
            message_id=f"<{key}-{when.timestamp()}-{fields.get('campaign_id', '')}@x>", created_at=when, **fields,
        )  # fmt: skip

    delivery("ann", NOW - timedelta(hours=3), campaign_id=campaign.id)  # this campaign's Daily 1
    delivery("bob", NOW - timedelta(days=3), campaign_id=campaign.id)  # Total 2 over its life
    delivery("bob", NOW - timedelta(days=2), campaign_id=campaign.id)
    delivery("cat", NOW - timedelta(hours=1))  # the project's Daily 2, all sources
    delivery("cat", NOW - timedelta(hours=2), campaign_id="other")
    # dan: 21:00 in Tokyo at NOW (12:00 UTC): quiet time. eve: no zone, quiet time does not apply.

    run_all(campaign, NOW)

    assert statuses(project) == {
        "ann": "DAILY_CAP",
        "bob": "CAMPAIGN_CAP",
        "cat": "DAILY_CAP",
        "dan": "QUIET_TIME",
        "eve": "SUCCESS",
    }
    activity = CampaignActivity.objects.get()
    assert activity.execution_metrics == {"DAILY_CAP": 2, "CAMPAIGN_CAP": 1, "QUIET_TIME": 1, "SUCCESS": 1}
    assert (activity.total_endpoint_count, activity.successful_endpoint_count) == (5, 1)
    assert list(Delivery.objects.filter(campaign_activity_id=activity.id).values_list("endpoint_key", flat=True)) == [
        "eve"
    ]


def test_local_time_sends_at_the_start_in_each_endpoints_zone(project, pro, email_channel):
    endpoint(project, "paris", timezone="Europe/Paris")
    endpoint(project, "york", timezone="America/New_York")
    endpoint(project, "nowhere", timezone="Mars/Olympus")
    schedule = {"StartTime": "2026-12-01T09:00:00", "Timezone": "UTC+02", "Frequency": "ONCE", "IsLocalTime": True}
    campaign = make_campaign(project, pro, schedule=schedule, Limits={"MaximumDuration": 3600})
    begins = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 09:00 in UTC+14

    assert campaign.next_run_at == begins
    assert run_all(campaign, begins - timedelta(minutes=1)) == []
    run_all(campaign, begins)

    at = dict(Delivery.objects.values_list("endpoint_key", "next_attempt_at"))
    assert at == {
        "paris": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        "york": datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
        "nowhere": datetime(2026, 12, 1, 7, 0, tzinfo=UTC),  # 09:00 in the schedule's UTC+02
    }
    expiry = dict(Delivery.objects.values_list("endpoint_key", "expires_at"))
    assert expiry["york"] == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    run = CampaignRun.objects.get()
    assert run.scheduled_start == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)

    # TimezonesTotalCount: the run's distinct zones (no valid zone counts as the schedule's);
    # TimezonesCompletedCount: those whose local start has come.
    activity = CampaignActivity.objects.get()
    assert activity.timezones == {
        "Europe/Paris": "2026-12-01T09:00:00+01:00",
        "America/New_York": "2026-12-01T09:00:00-05:00",
        "UTC+02": "2026-12-01T07:00:00+00:00",
    }
    completed = [activity.timezones_completed(datetime(2026, 12, 1, hour, 0, tzinfo=UTC)) for hour in (6, 7, 8, 13, 14)]
    assert completed == [0, 1, 2, 2, 3]


def test_a_campaign_without_local_time_completes_all_its_zones_with_the_run(project, pro, email_channel):
    endpoint(project, "paris", timezone="Europe/Paris")
    endpoint(project, "york", timezone="America/New_York")
    endpoint(project, "berlin", "+4930123456", timezone="Europe/Berlin", channel_type="SMS")  # not sent, counted
    campaign = make_campaign(project, pro)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        activity = CampaignActivity.objects.get()
        assert (len(activity.timezones), activity.timezones_completed(NOW)) == (0, 0)
        campaign_run_step(run_id)

    activity.refresh_from_db()
    assert sorted(activity.timezones) == ["America/New_York", "Europe/Berlin", "Europe/Paris"]
    assert activity.state == "COMPLETED"
    assert activity.timezones_completed(NOW) == 3
    assert campaign.runs.get().state == RunState.COMPLETED


def test_messages_per_second_spaces_the_send_times(project, pro, email_channel, monkeypatch):
    monkeypatch.setattr(engine, "BATCH_SIZE", 4)
    for n in range(9):
        endpoint(project, f"e{n}")
    campaign = make_campaign(project, pro, Limits={"MessagesPerSecond": 2})

    run_all(campaign, NOW)

    per_second = Counter(Delivery.objects.values_list("next_attempt_at", flat=True))
    assert per_second == {NOW + timedelta(seconds=s): 2 for s in range(4)} | {NOW + timedelta(seconds=4): 1}


def test_maximum_duration_expires_what_the_rate_pushes_past_it(project, pro, email_channel):
    for n in range(5):
        endpoint(project, f"e{n}")
    campaign = make_campaign(project, pro, Limits={"MessagesPerSecond": 1, "MaximumDuration": 3})

    run_all(campaign, NOW)

    assert Counter(statuses(project).values()) == {"SUCCESS": 3, "EXPIRED": 2}
    assert CampaignActivity.objects.get().execution_metrics == {"SUCCESS": 3, "EXPIRED": 2}


def test_a_run_whose_segment_was_deleted_fails_and_the_campaign_is_deleted(project, pro, email_channel):
    endpoint(project, "ann")
    campaign = make_campaign(project, pro)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        pro.delete()

        campaign_run_step(run_id)
    campaign.refresh_from_db()

    run = CampaignRun.objects.get()
    assert (run.state, run.result) == (RunState.FAILED, "The campaign's segment was deleted.")
    assert campaign.state == CampaignState.DELETED
    assert not Delivery.objects.exists()


def test_missing_template_makes_the_campaign_invalid(project, pro, email_channel):
    endpoint(project, "ann")
    campaign = make_campaign(project, pro, message={}, TemplateConfiguration={"EmailTemplate": {"Name": "gone"}})

    run_all(campaign, NOW)
    campaign.refresh_from_db()

    run = CampaignRun.objects.get()
    assert run.state == RunState.FAILED and "gone" in run.result
    assert (campaign.state, campaign.next_run_at) == (CampaignState.INVALID, None)
    assert CampaignActivity.objects.get().result == "FAIL"


def test_templates_render_their_active_version_at_send_time_or_the_pinned_one(project, pro, email_channel):
    endpoint(project, "ann")
    template_create("EMAIL", "welcome", {"Subject": "v1 {{Attributes.FirstName}}", "TextPart": "t"})
    template_update("EMAIL", "welcome", {"Subject": "v2 {{Attributes.FirstName}}", "TextPart": "t"},
                    create_new_version=True)  # fmt: skip
    template_update("EMAIL", "welcome", {"Subject": "v3", "TextPart": "t"}, create_new_version=True)
    active = make_campaign(project, pro, message={}, TemplateConfiguration={"EmailTemplate": {"Name": "welcome"}})
    pinned = make_campaign(
        project, pro, message={}, TemplateConfiguration={"EmailTemplate": {"Name": "welcome", "Version": "2"}}
    )

    run_all(active, NOW)

    subjects = dict(Delivery.objects.values_list("campaign_id", "subject"))
    assert subjects == {active.id: "v1 Ann", pinned.id: "v2 Ann"}  # version 1 stays active until set


def test_interrupted_run_resumes_and_sends_each_recipient_exactly_once(
    project, pro, email_channel, smtp_sink, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(engine, "BATCH_SIZE", 10)
    for n in range(25):
        endpoint(project, f"e{n:02d}")
    campaign = make_campaign(project, pro)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id, max_batches=1)
        # The worker that wrote the first batch dies holding the run: its lease runs out.
        CampaignRun.objects.filter(pk=run_id).update(lease_token="dead", lease_until=NOW - timedelta(seconds=1))
        assert CampaignRun.objects.get(pk=run_id).cursor == "e09"

    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert campaign_runs_sweep(NOW) == [run_id]
        # The first batch's send tasks died with its worker: the outbox's own sweeper would send them.
        deliveries_send_batch(Delivery.objects.filter(status=DeliveryStatus.QUEUED).values_list("id", flat=True))

    assert Counter(m["To"] for m in smtp_sink.messages) == {f"e{n:02d}@example.org": 1 for n in range(25)}
    assert len(smtp_sink.message_ids()) == 25
    activity = CampaignActivity.objects.get()
    assert (activity.total_endpoint_count, activity.successful_endpoint_count) == (25, 25)
    assert CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.COMPLETED


def test_a_worker_that_lost_its_lease_writes_nothing(project, pro, email_channel, monkeypatch):
    monkeypatch.setattr(engine, "BATCH_SIZE", 2)
    for n in range(4):
        endpoint(project, f"e{n}")
    make_campaign(project, pro)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        stale = engine._claim(run_id, NOW)
        CampaignRun.objects.filter(pk=run_id).update(lease_until=NOW - timedelta(seconds=1))
        assert campaign_run_step(run_id)  # a second worker takes the run over and finishes it
    run = CampaignRun.objects.get(pk=run_id)

    with pytest.raises(engine.LeaseLost):
        engine._write(run, stale, engine.plan_for(run.campaign), {}, [("e9", 50)], None)

    assert Delivery.objects.count() == 4
    assert Delivery.objects.values("endpoint_key").annotate(n=Count("id")).filter(n__gt=1).count() == 0


def test_duplicate_addresses_get_one_message_per_run(project, pro, email_channel, monkeypatch):
    monkeypatch.setattr(engine, "BATCH_SIZE", 2)
    endpoint(project, "a1", "shared@example.org")
    endpoint(project, "b1")
    endpoint(project, "c1")
    endpoint(project, "d1", "shared@example.org")  # in a later batch than a1
    campaign = make_campaign(project, pro)

    run_all(campaign, NOW)

    assert statuses(project) == {"a1": "SUCCESS", "b1": "SUCCESS", "c1": "SUCCESS", "d1": "DUPLICATE_ADDRESS"}
    assert Delivery.objects.filter(address="shared@example.org").count() == 1


def test_run_step_of_a_finished_run_does_nothing(project, pro, email_channel):
    endpoint(project, "ann")
    campaign = make_campaign(project, pro)
    (run_id,) = run_all(campaign, NOW)

    assert campaign_run_step(run_id) is False
    assert Delivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_tick_skips_a_campaign_another_tick_is_starting(project, pro):
    if connection.vendor != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    endpoint(project, "ann")
    campaign = make_campaign(project, pro, schedule={"StartTime": "2026-11-30T12:00:00Z", "Frequency": "ONCE"})
    locked, release = threading.Event(), threading.Event()

    def other_tick() -> None:  # another scheduler, mid-start, holding the campaign row
        with transaction.atomic():
            list(Campaign.objects.select_for_update().filter(pk=campaign.pk))
            locked.set()
            release.wait(30)
        connections.close_all()

    worker = threading.Thread(target=other_tick)
    worker.start()
    locked.wait(30)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting instead of skipping would fail, not hang
        skipped = campaigns_start_due(NOW)
    finally:
        release.set()
        worker.join()
    after = campaigns_start_due(NOW)

    assert skipped == [] and len(after) == 1
    assert CampaignRun.objects.count() == 1


def test_pausing_a_campaign_lets_its_running_run_complete(project, pro, email_channel, monkeypatch):
    monkeypatch.setattr(engine, "BATCH_SIZE", 2)
    for n in range(5):
        endpoint(project, f"e{n}")
    schedule = {"StartTime": "2026-11-30T12:00:00Z", "EndTime": "2026-12-05T00:00:00Z", "Frequency": "DAILY"}
    campaign = make_campaign(project, pro, schedule=schedule)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id, max_batches=1)
        Campaign.objects.filter(pk=campaign.pk).update(is_paused=True, state=CampaignState.PAUSED)
        while campaign_run_step(run_id):
            pass
    campaign.refresh_from_db()

    assert Delivery.objects.count() == 5
    assert CampaignRun.objects.get().state == RunState.COMPLETED
    assert campaign.state == CampaignState.PAUSED


def test_a_treatment_sends_its_own_template(project, pro, email_channel):
    for n in range(40):
        endpoint(project, f"e{n:02d}")
    template_create("EMAIL", "variant", {"Subject": "Variant for {{Attributes.FirstName}}", "TextPart": "v"})
    treatment = {"Id": "1", "SizePercent": 50, "TemplateConfiguration": {"EmailTemplate": {"Name": "variant"}}}
    campaign = make_campaign(project, pro, AdditionalTreatments=[treatment])

    run_all(campaign, NOW)

    expected = {f"e{n:02d}" for n in range(40) if cohort_of(f"e{n:02d}") >= 50}
    variant = dict(Delivery.objects.filter(treatment_id="1").values_list("endpoint_key", "subject"))
    assert variant == {key: f"Variant for {key.title()}" for key in expected}
    assert Delivery.objects.filter(treatment_id="0").count() == 40 - len(expected)


def test_campaign_send_to_twice_decides_writes_and_counts_once(project, pro, email_channel):
    endpoint(project, "ann")
    endpoint(project, "bob", plan="free", cohort=0)
    campaign = make_campaign(project, pro, HoldoutPercent=5)
    (run_id,) = campaigns_start_due(NOW)
    activity = CampaignActivity.objects.get(run_id=run_id)

    first = campaign_send_to(campaign, activity, ["ann", "bob"], now=NOW)
    again = campaign_send_to(campaign, activity, ["ann", "bob"], now=NOW)

    assert first == again == {"ann": "SUCCESS", "bob": "HOLDOUT"}
    activity.refresh_from_db()
    assert activity.execution_metrics == {"SUCCESS": 1, "TREATMENT_HOLDOUT": 1}
    assert activity.successful_endpoint_count == 1
    assert Delivery.objects.count() == 1
    assert Event.objects.filter(event_type="_campaign.send").count() == 2


def test_a_run_behind_its_rate_schedules_from_now_not_in_the_past(project, pro, email_channel, monkeypatch):
    monkeypatch.setattr(engine, "BATCH_SIZE", 3)
    for n in range(6):
        endpoint(project, f"e{n}")
    make_campaign(project, pro, Limits={"MessagesPerSecond": 2})
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id, max_batches=1)
    with time_machine.travel(NOW + timedelta(seconds=10), tick=False):
        campaign_run_step(run_id)

    at = sorted(Delivery.objects.values_list("next_attempt_at", flat=True))
    assert at == [NOW, NOW, NOW + timedelta(seconds=1)] + [NOW + timedelta(seconds=10)] * 2 + [
        NOW + timedelta(seconds=11)
    ]


def test_a_run_sends_the_campaign_version_it_was_made_for(project, pro, email_channel, monkeypatch):
    monkeypatch.setattr(engine, "BATCH_SIZE", 1)
    endpoint(project, "ann")
    endpoint(project, "bob")
    campaign = make_campaign(project, pro)
    CampaignVersion.objects.create(campaign=campaign, version=1, definition=campaign.definition)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id, max_batches=1)
        # UpdateCampaign while the run is writing: version 2 says something else.
        updated = {**campaign.definition, "MessageConfiguration": {"EmailMessage": {"Title": "v2", "Body": "b"}}}
        CampaignVersion.objects.create(campaign=campaign, version=2, definition=updated)
        Campaign.objects.filter(pk=campaign.pk).update(version=2, definition=updated)
        campaign_run_step(run_id)

    assert dict(Delivery.objects.values_list("endpoint_key", "subject")) == {"ann": "Hi Ann", "bob": "Hi Bob"}


def test_campaign_send_to_sends_once_per_occurrence_within_the_caps(project, pro, email_channel):
    endpoint(project, "ann")
    campaign = make_campaign(project, pro, Limits={"Total": 2})
    (run_id,) = campaigns_start_due(NOW)
    activity = CampaignActivity.objects.get(run_id=run_id)

    first = campaign_send_to(campaign, activity, ["ann"], now=NOW, occurrence="ev-1")
    retried = campaign_send_to(campaign, activity, ["ann"], now=NOW, occurrence="ev-1")
    second = campaign_send_to(campaign, activity, ["ann"], now=NOW, occurrence={"ann": "ev-2"})
    third = campaign_send_to(campaign, activity, ["ann"], now=NOW, occurrence="ev-3")

    assert (first, retried, second, third) == (
        {"ann": "SUCCESS"},
        {"ann": "SUCCESS"},
        {"ann": "SUCCESS"},
        {"ann": "CAMPAIGN_CAP"},
    )
    ids = set(Delivery.objects.values_list("message_id", flat=True))
    assert ids == {
        message_id_for(delivery_key(activity.id, "ann", occurrence), "news@example.com")
        for occurrence in ("ev-1", "ev-2")
    }
    assert sorted(Event.objects.filter(event_type="_campaign.send").values_list("client_event_id", flat=True)) == [
        f"{activity.id}:ann:ev-{n}" for n in (1, 2, 3)
    ]
    activity.refresh_from_db()
    assert activity.execution_metrics == {"SUCCESS": 2, "CAMPAIGN_CAP": 1}


def test_a_scheduled_runs_keys_have_no_occurrence(project, pro, email_channel):
    endpoint(project, "ann")
    campaign = make_campaign(project, pro)

    run_all(campaign)

    activity = CampaignActivity.objects.get()
    row = Delivery.objects.get()
    key = hashlib.sha256(f"{activity.id}:ann".encode()).hexdigest()[:32]  # as before occurrences
    assert row.message_id == message_id_for(key, "news@example.com")
    assert Event.objects.get(event_type="_campaign.send").client_event_id == f"{activity.id}:ann"


def test_a_long_occurrence_id_fits_the_event_id_column():
    event_id = send_event_id("a" * 32, "k" * 128, "o" * 128)

    assert len(event_id) <= 128
    assert event_id != send_event_id("a" * 32, "k" * 128, "o" * 127 + "p")
    assert send_event_id("act", "ann", "ev-1") == "act:ann:ev-1"
    assert send_event_id("act", "ann") == "act:ann"
    assert len(send_event_id("a" * 32, "k" * 128)) <= 128  # a scheduled run's id for a long endpoint key
    assert send_event_id("a" * 32, "k" * 128) != send_event_id("a" * 32, "k" * 127 + "j")


def test_a_treatment_with_its_own_later_start_sends_that_much_after_the_run(project, pro, email_channel):
    for n in range(40):
        endpoint(project, f"e{n:02d}")
    schedule = {"StartTime": NOW.isoformat(), "Frequency": "DAILY", "EndTime": (NOW + timedelta(days=3)).isoformat()}
    later = dict(schedule, StartTime=(NOW + timedelta(hours=2)).isoformat())
    treatment = {"Id": "1", "SizePercent": 50, "Schedule": later}
    campaign = make_campaign(project, pro, schedule=schedule, AdditionalTreatments=[treatment])

    run_all(campaign, NOW)
    run_all(campaign, NOW + timedelta(days=1))

    due = Delivery.objects.values_list("treatment_id", "next_attempt_at").distinct()
    starts = {NOW, NOW + timedelta(days=1)}
    assert {at for t, at in due if t == "0"} == starts
    assert {at for t, at in due if t == "1"} == {start + timedelta(hours=2) for start in starts}
