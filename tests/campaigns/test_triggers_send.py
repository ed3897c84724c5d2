"""Event-triggered campaigns end to end: PutEvents through boto3 against the live server → the trigger
task → the engine → the outbox → the real SMTP sink (aiosmtpd)."""

# ruff: noqa: F811 (the fixtures imported from test_deliveries are test arguments)

from datetime import timedelta

import time_machine
from django.utils import timezone

from audience.models import Event
from audience.services import SystemEvent, events_record
from campaigns.deliveries import deliveries_sweep
from campaigns.models import (
    Campaign,
    CampaignActivity,
    CampaignRun,
    CampaignState,
    CampaignVersion,
    Delivery,
    DeliveryStatus,
    Frequency,
    RunState,
)
from campaigns.runs import campaign_run_step, campaign_runs_sweep
from campaigns.triggers import EXPIRY, campaign_trigger_send
from tests.campaigns.recipients import make_endpoint, pro_segment
from tests.campaigns.test_deliveries import email_channel, free_port, smtp_sink  # noqa: F401 (fixtures)

ADD_TO_CART = {
    "FilterType": "ENDPOINT",
    "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["addToCart"]}},
}


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_campaign(project, segment, *, event_filter=None, schedule=None, **members) -> Campaign:
    """An EVENT campaign as the campaign API stores it (definition = the CampaignResponse members)."""
    now = timezone.now()
    definition = {
        "Name": "cart reminder",
        "SegmentId": segment.pk,
        "SegmentVersion": segment.version,
        "Schedule": {
            "StartTime": iso(now - timedelta(hours=1)),
            "EndTime": iso(now + timedelta(days=1)),
            "Frequency": "EVENT",
            "EventFilter": event_filter or ADD_TO_CART,
            **(schedule or {}),
        },
        "MessageConfiguration": {
            "EmailMessage": {"Title": "Your cart", "Body": "Still thinking it over?", "HtmlBody": "<p>Still?</p>"}
        },
        **members,
    }
    campaign = Campaign.objects.create(
        project=project,
        name=definition["Name"],
        frequency=Frequency.EVENT,
        state=CampaignState.SCHEDULED,
        is_paused=bool(definition.get("IsPaused")),
        segment=segment,
        definition=definition,
        creation_date=now - timedelta(hours=2),
        last_modified_date=now - timedelta(hours=2),
    )
    CampaignVersion.objects.create(
        campaign=campaign, version=1, definition=definition, creation_date=now - timedelta(hours=2)
    )
    return campaign


def put_event(
    pinpoint, project, endpoint_id: str, event_type: str = "addToCart", *, event_id: str = "ev-1", plan="pro"
):
    return pinpoint.put_events(
        ApplicationId=project.id,
        EventsRequest={
            "BatchItem": {
                endpoint_id: {
                    "Endpoint": {
                        "ChannelType": "EMAIL",
                        "Address": f"{endpoint_id}@example.org",
                        "Attributes": {"Plan": [plan]},
                    },
                    "Events": {event_id: {"EventType": event_type, "Timestamp": iso(timezone.now())}},
                }
            }
        },
    )


def test_matching_event_sends_the_campaign_message_once(pinpoint, project, smtp_sink, email_channel):
    campaign = event_campaign(project, pro_segment(project))
    before = timezone.now()

    put_event(pinpoint, project, "ann")
    put_event(pinpoint, project, "ann")  # a retried call: the same event id

    assert [(m["To"], m["Subject"]) for m in smtp_sink.messages] == [("ann@example.org", "Your cart")]
    row = Delivery.objects.get()
    assert (row.campaign_id, row.treatment_id, row.status) == (campaign.pk, "0", DeliveryStatus.SENT)
    assert before + EXPIRY <= row.expires_at <= timezone.now() + EXPIRY
    send = Event.objects.get(event_type="_campaign.send")
    assert (send.endpoint_key, send.attributes["campaign_send_status"]) == ("ann", "SUCCESS")
    assert CampaignActivity.objects.get().successful_endpoint_count == 1  # the retry triggered nothing


def test_event_campaign_has_one_run_per_version_that_the_engine_sweeper_leaves_alone(
    pinpoint,
    project,
    smtp_sink,
    email_channel,
):
    campaign = event_campaign(project, pro_segment(project))

    put_event(pinpoint, project, "ann")
    put_event(pinpoint, project, "bob")
    swept = campaign_runs_sweep(timezone.now() + timedelta(days=2))
    stepped = campaign_run_step(CampaignRun.objects.get().pk)

    run = CampaignRun.objects.get(campaign=campaign)
    activity = CampaignActivity.objects.get(run=run)
    assert (swept, stepped) == ([], False)  # neither the sweeper nor the run loop claims it
    assert (run.campaign_version, run.state, run.lease_token, run.lease_until) == (1, RunState.EXECUTING, "", None)
    assert iso(run.scheduled_start) == campaign.definition["Schedule"]["StartTime"]
    assert (activity.treatment_id, activity.successful_endpoint_count) == ("0", 2)
    assert sorted(m["To"] for m in smtp_sink.messages) == ["ann@example.org", "bob@example.org"]


def test_non_matching_event_sends_nothing(pinpoint, project, smtp_sink, email_channel):
    event_campaign(project, pro_segment(project))

    put_event(pinpoint, project, "ann", "pageView")

    assert smtp_sink.messages == []
    assert not Delivery.objects.exists()
    assert not CampaignRun.objects.exists()


def test_endpoint_outside_the_segment_gets_nothing(pinpoint, project, smtp_sink, email_channel):
    event_campaign(project, pro_segment(project))

    put_event(pinpoint, project, "ann", plan="free")

    assert smtp_sink.messages == []
    assert not Delivery.objects.exists()


def test_campaign_outside_its_window_or_paused_sends_nothing(pinpoint, project, smtp_sink, email_channel):
    segment = pro_segment(project)
    now = timezone.now()
    event_campaign(project, segment, schedule={"StartTime": iso(now + timedelta(hours=1))})
    event_campaign(
        project, segment, schedule={"StartTime": iso(now - timedelta(days=2)), "EndTime": iso(now - timedelta(days=1))}
    )
    event_campaign(project, segment, IsPaused=True)

    put_event(pinpoint, project, "ann")

    assert smtp_sink.messages == []
    assert not Delivery.objects.exists()


def test_endpoint_in_the_holdout_is_recorded_not_sent(pinpoint, project, smtp_sink, email_channel):
    event_campaign(project, pro_segment(project), HoldoutPercent=100)

    put_event(pinpoint, project, "ann")

    assert smtp_sink.messages == []
    send = Event.objects.get(event_type="_campaign.send")
    assert send.attributes["campaign_send_status"] == "HOLDOUT"


def test_system_event_triggers_a_system_filter_campaign(
    project, smtp_sink, email_channel, django_capture_on_commit_callbacks
):
    make_endpoint(project, "ann", "ann@example.org", attributes={"Plan": ["pro"]})
    opened = {"FilterType": "SYSTEM", "Dimensions": {"EventType": {"Values": ["_email.open"]}}}
    event_campaign(project, pro_segment(project), event_filter=opened)

    with django_capture_on_commit_callbacks(execute=True):
        events_record([SystemEvent(project.id, "ann", "open-1", "_email.open", timezone.now())])

    assert [m["To"] for m in smtp_sink.messages] == ["ann@example.org"]


def test_client_event_does_not_trigger_a_system_filter_campaign(pinpoint, project, smtp_sink, email_channel):
    opened = {"FilterType": "SYSTEM", "Dimensions": {"EventType": {"Values": ["_email.open"]}}}
    event_campaign(project, pro_segment(project), event_filter=opened)

    put_event(pinpoint, project, "ann", "_email.open")

    assert smtp_sink.messages == []


def test_trigger_that_cannot_go_out_within_five_minutes_expires_unsent(
    pinpoint,
    project,
    smtp_sink,
    email_channel,
    settings,
):
    event_campaign(project, pro_segment(project))
    sink_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # the mail server is down when the event arrives
    put_event(pinpoint, project, "ann")
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED  # to be retried
    settings.EMAIL_PORT = sink_port

    with time_machine.travel(timezone.now() + EXPIRY + timedelta(seconds=30), tick=False):
        deliveries_sweep()

    row = Delivery.objects.get()
    assert smtp_sink.messages == []
    assert row.status == DeliveryStatus.FAILED_PERMANENT
    assert row.last_error.startswith("EXPIRED:")


def test_trigger_handled_after_five_minutes_is_recorded_expired(project, smtp_sink, email_channel):
    make_endpoint(project, "ann", "ann@example.org", attributes={"Plan": ["pro"]})
    campaign = event_campaign(project, pro_segment(project))
    now = timezone.now()

    decided = campaign_trigger_send(
        campaign.pk, [("ann", "ev-1")], triggered_at=now - EXPIRY - timedelta(seconds=1), now=now
    )

    assert decided == {("ann", "ev-1"): "EXPIRED"}
    assert smtp_sink.messages == []
    assert not Delivery.objects.exists()


def test_event_campaign_created_through_create_campaign_is_triggered(pinpoint, project, smtp_sink, email_channel):
    segment = pro_segment(project)
    now = timezone.now()
    pinpoint.create_campaign(
        ApplicationId=project.id,
        WriteCampaignRequest={
            "Name": "cart reminder",
            "SegmentId": segment.pk,
            "Schedule": {
                "StartTime": iso(now - timedelta(minutes=1)),
                "EndTime": iso(now + timedelta(days=1)),
                "Frequency": "EVENT",
                "EventFilter": ADD_TO_CART,
            },
            "MessageConfiguration": {"EmailMessage": {"Title": "Your cart", "HtmlBody": "<p>Still?</p>"}},
        },
    )

    put_event(pinpoint, project, "ann")

    assert [(m["To"], m["Subject"]) for m in smtp_sink.messages] == [("ann@example.org", "Your cart")]


def test_campaign_whose_template_is_gone_sends_nothing_and_raises_nothing(project, smtp_sink, email_channel):
    make_endpoint(project, "ann", "ann@example.org", attributes={"Plan": ["pro"]})
    campaign = event_campaign(
        project,
        pro_segment(project),
        MessageConfiguration={},
        TemplateConfiguration={"EmailTemplate": {"Name": "gone"}},
    )
    now = timezone.now()

    decided = campaign_trigger_send(campaign.pk, [("ann", "ev-1")], triggered_at=now, now=now)

    assert decided == {}
    assert smtp_sink.messages == []
    assert not CampaignRun.objects.exists()


def test_maximum_duration_counts_from_the_event_not_the_campaigns_start(project, smtp_sink, email_channel):
    make_endpoint(project, "ann", "ann@example.org", attributes={"Plan": ["pro"]})
    campaign = event_campaign(project, pro_segment(project), Limits={"MaximumDuration": 60})  # started 1 h ago
    now = timezone.now()

    fresh = campaign_trigger_send(campaign.pk, [("ann", "ev-1")], triggered_at=now - timedelta(seconds=30), now=now)
    late = campaign_trigger_send(campaign.pk, [("ann", "ev-2")], triggered_at=now - timedelta(seconds=61), now=now)

    assert (fresh, late) == ({("ann", "ev-1"): "SUCCESS"}, {("ann", "ev-2"): "EXPIRED"})
    assert Delivery.objects.get().expires_at == now + timedelta(seconds=30)  # the event's arrival + 60 s
    assert CampaignActivity.objects.get().scheduled_start == CampaignRun.objects.get().scheduled_start


def put_events(pinpoint, project, endpoint_id: str, event_ids: list[str], event_type: str = "addToCart"):
    """One PutEvents call with several events of one endpoint."""
    when = iso(timezone.now())
    return pinpoint.put_events(
        ApplicationId=project.id,
        EventsRequest={
            "BatchItem": {
                endpoint_id: {
                    "Endpoint": {
                        "ChannelType": "EMAIL",
                        "Address": f"{endpoint_id}@example.org",
                        "Attributes": {"Plan": ["pro"]},
                    },
                    "Events": {event_id: {"EventType": event_type, "Timestamp": when} for event_id in event_ids},
                }
            }
        },
    )


def send_statuses() -> list[tuple[str, str]]:
    return sorted(
        (e.client_event_id.rsplit(":", 1)[-1], e.attributes["campaign_send_status"])
        for e in Event.objects.filter(event_type="_campaign.send")
    )


def test_each_matching_event_sends_the_message_again(pinpoint, project, smtp_sink, email_channel):
    event_campaign(project, pro_segment(project))

    put_event(pinpoint, project, "ann", event_id="ev-1")
    put_event(pinpoint, project, "ann", event_id="ev-2")

    assert [m["To"] for m in smtp_sink.messages] == ["ann@example.org", "ann@example.org"]
    message_ids = {m["Message-ID"] for m in smtp_sink.messages}
    assert len(message_ids) == 2
    assert message_ids == set(Delivery.objects.values_list("message_id", flat=True))
    assert send_statuses() == [("ev-1", "SUCCESS"), ("ev-2", "SUCCESS")]
    activity = CampaignActivity.objects.get()
    assert (activity.total_endpoint_count, activity.successful_endpoint_count) == (2, 2)


def test_two_matching_events_in_one_call_send_two_messages(pinpoint, project, smtp_sink, email_channel):
    event_campaign(project, pro_segment(project))

    put_events(pinpoint, project, "ann", ["ev-1", "ev-2"])

    assert len({m["Message-ID"] for m in smtp_sink.messages}) == 2
    assert send_statuses() == [("ev-1", "SUCCESS"), ("ev-2", "SUCCESS")]


def test_a_retried_trigger_of_the_same_event_sends_and_counts_nothing_more(pinpoint, project, smtp_sink, email_channel):
    campaign = event_campaign(project, pro_segment(project))
    put_event(pinpoint, project, "ann", event_id="ev-1")
    now = timezone.now()

    again = campaign_trigger_send(campaign.pk, [("ann", "ev-1")], triggered_at=now, now=now)  # the task, retried

    assert again == {("ann", "ev-1"): "SUCCESS"}  # the stored decision
    assert len(smtp_sink.messages) == 1
    assert Delivery.objects.count() == 1
    assert send_statuses() == [("ev-1", "SUCCESS")]
    assert CampaignActivity.objects.get().successful_endpoint_count == 1


def test_total_cap_stops_the_second_event(pinpoint, project, smtp_sink, email_channel):
    event_campaign(project, pro_segment(project), Limits={"Total": 1})

    put_event(pinpoint, project, "ann", event_id="ev-1")
    put_event(pinpoint, project, "ann", event_id="ev-2")

    assert len(smtp_sink.messages) == 1
    assert send_statuses() == [("ev-1", "SUCCESS"), ("ev-2", "CAMPAIGN_CAP")]
    assert CampaignActivity.objects.get().execution_metrics == {"SUCCESS": 1, "CAMPAIGN_CAP": 1}


def test_total_cap_holds_for_two_events_in_one_call(pinpoint, project, smtp_sink, email_channel):
    event_campaign(project, pro_segment(project), Limits={"Total": 1})

    put_events(pinpoint, project, "ann", ["ev-1", "ev-2"])

    assert len(smtp_sink.messages) == 1
    assert send_statuses() == [("ev-1", "SUCCESS"), ("ev-2", "CAMPAIGN_CAP")]


def test_daily_cap_stops_the_second_event(pinpoint, project, smtp_sink, email_channel):
    event_campaign(project, pro_segment(project), Limits={"Daily": 1})

    put_event(pinpoint, project, "ann", event_id="ev-1")
    put_event(pinpoint, project, "ann", event_id="ev-2")

    assert len(smtp_sink.messages) == 1
    assert send_statuses() == [("ev-1", "SUCCESS"), ("ev-2", "DAILY_CAP")]


def test_the_campaigns_own_email_events_do_not_trigger_it(
    project, smtp_sink, email_channel, django_capture_on_commit_callbacks
):
    make_endpoint(project, "ann", "ann@example.org", attributes={"Plan": ["pro"]})
    sent = {"FilterType": "SYSTEM", "Dimensions": {"EventType": {"Values": ["_email.send"]}}}
    # A cap, so that a loop (the bug this test guards against) ends at 3 messages instead of never.
    campaign = event_campaign(project, pro_segment(project), event_filter=sent, Limits={"Total": 3})

    with django_capture_on_commit_callbacks(execute=True):  # an _email.send of another message
        events_record([SystemEvent(project.id, "ann", "other-send-1", "_email.send", timezone.now())])

    own = Event.objects.get(event_type="_email.send", attributes__campaign_id=campaign.pk)
    assert own.endpoint_key == "ann"  # the campaign's message was sent and its _email.send recorded
    assert [m["To"] for m in smtp_sink.messages] == ["ann@example.org"]
    assert send_statuses() == [("other-send-1", "SUCCESS")]


def test_a_run_of_an_event_version_is_completed_unsent_once_the_campaign_is_scheduled(
    pinpoint, project, smtp_sink, email_channel
):
    campaign = event_campaign(project, pro_segment(project))
    put_event(pinpoint, project, "ann")
    put_event(pinpoint, project, "bob", plan="pro")
    Campaign.objects.filter(pk=campaign.pk).update(frequency=Frequency.ONCE)  # updated to a schedule
    run = CampaignRun.objects.get()

    assert campaign_runs_sweep(timezone.now()) == [run.pk]  # its step runs (the test queue is synchronous)

    run.refresh_from_db()
    assert run.state == RunState.COMPLETED
    assert len(smtp_sink.messages) == 2  # the two triggered messages, no segment-wide send
    assert Delivery.objects.count() == 2


def test_a_new_versions_run_completes_the_earlier_run(pinpoint, project, smtp_sink, email_channel):
    campaign = event_campaign(project, pro_segment(project))
    put_event(pinpoint, project, "ann", event_id="ev-1")
    now = timezone.now()
    CampaignVersion.objects.create(campaign=campaign, version=2, definition=campaign.definition, creation_date=now)
    Campaign.objects.filter(pk=campaign.pk).update(version=2, last_modified_date=now)

    put_event(pinpoint, project, "ann", event_id="ev-2")

    first, second = CampaignRun.objects.order_by("campaign_version")
    assert (first.campaign_version, first.state) == (1, RunState.COMPLETED)
    assert (second.campaign_version, second.state) == (2, RunState.EXECUTING)
    assert first.activities.get().state == "COMPLETED"
    assert second.activities.get().successful_endpoint_count == 1
    assert len(smtp_sink.messages) == 2
