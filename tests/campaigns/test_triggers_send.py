"""Event-triggered campaigns end to end: PutEvents through boto3 against the live server → the trigger
task → the engine → the outbox → the real SMTP sink (aiosmtpd)."""

# ruff: noqa: F811 (the fixtures imported from test_deliveries are test arguments)

from datetime import timedelta

import time_machine
from django.utils import timezone

from audience.models import Event
from audience.segments import segment_create
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
from campaigns.runs import campaign_runs_sweep
from campaigns.triggers import EXPIRY, campaign_trigger_send
from tests.campaigns.test_deliveries import email_channel, free_port, make_endpoint, smtp_sink  # noqa: F401 (fixtures)

ADD_TO_CART = {
    "FilterType": "ENDPOINT",
    "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["addToCart"]}},
}


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pro_segment(project):
    return segment_create(
        project, name="pro", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    )


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

    run = CampaignRun.objects.get(campaign=campaign)
    activity = CampaignActivity.objects.get(run=run)
    assert swept == []
    assert (run.campaign_version, run.state) == (1, RunState.EXECUTING)
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

    decided = campaign_trigger_send(campaign.pk, ["ann"], triggered_at=now - EXPIRY - timedelta(seconds=1), now=now)

    assert decided == {"ann": "EXPIRED"}
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

    decided = campaign_trigger_send(campaign.pk, ["ann"], triggered_at=now, now=now)

    assert decided == {}
    assert smtp_sink.messages == []
    assert not CampaignRun.objects.exists()


def test_maximum_duration_counts_from_the_event_not_the_campaigns_start(project, smtp_sink, email_channel):
    make_endpoint(project, "ann", "ann@example.org", attributes={"Plan": ["pro"]})
    campaign = event_campaign(project, pro_segment(project), Limits={"MaximumDuration": 60})  # started 1 h ago
    now = timezone.now()

    decided = campaign_trigger_send(campaign.pk, ["ann"], triggered_at=now, now=now)

    assert decided == {"ann": "SUCCESS"}
    assert CampaignActivity.objects.get().scheduled_start == CampaignRun.objects.get().scheduled_start
