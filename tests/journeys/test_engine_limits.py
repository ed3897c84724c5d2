"""Journey message activities: channels, caps and quiet time, with Pinpoint's journey_send_status."""
# ruff: noqa: F811 - pytest fixtures imported from test_engine_support are parameters here

from datetime import timedelta

from audience.models import Event
from campaigns.models import Delivery, DeliverySource
from campaigns.templates import template_create
from journeys.engine import journey_activity_metrics
from journeys.models import JourneyParticipant, JourneyStep
from projects.models import ApplicationSettings
from tests.journeys.test_engine_support import (  # noqa: F401 - fixtures
    NOW,
    email,
    email_on,
    endpoint,
    make_journey,
    pro,
    sms_on,
    tick,
    welcome,
)


def send_statuses(project) -> dict[str, str]:
    return {
        e.endpoint_key: e.attributes["journey_send_status"]
        for e in Event.objects.filter(project=project, event_type="_journey.send")
    }


def delivery(project, key, journey_id="", *, hours_ago=1, source=DeliverySource.CAMPAIGN, n=1):
    for i in range(n):
        Delivery.objects.create(
            project=project,
            channel="EMAIL",
            address=f"{key}@example.org",
            endpoint_key=key,
            source=source,
            journey_id=journey_id,
            message_id=f"<earlier-{key}-{journey_id}-{hours_ago}-{i}@example.com>",
            created_at=NOW - timedelta(hours=hours_ago),
        )


def test_sms_activity_sends_to_sms_endpoints_and_passes_the_others_on(project, pro, sms_on):
    template_create("SMS", "code", {"Body": "Hi {{Attributes.FirstName}}"})
    endpoint(project, "ann", channel_type="SMS", address="+4915112345678")
    endpoint(project, "bob")  # an email endpoint
    endpoint(project, "cat", channel_type="SMS", address="12345")
    activities = {"text": {"SMS": {"TemplateName": "code", "MessageConfig": {"MessageType": "PROMOTIONAL"}}}}
    journey = make_journey(project, activities, "text", segment=pro)

    tick(NOW)

    row = Delivery.objects.get(journey_id=journey.id)
    assert (row.channel, row.address, row.payload["Body"], row.payload["MessageType"]) == (
        "SMS",
        "+4915112345678",
        "Hi Ann",
        "PROMOTIONAL",
    )
    assert send_statuses(project) == {"ann": "SUCCESS", "bob": "UNSUPPORTED_CHANNEL", "cat": "FAILURE"}
    assert set(JourneyParticipant.objects.values_list("state", flat=True)) == {"DONE"}


def test_push_activity_renders_the_push_template_for_the_device_channel(project, pro):
    from campaigns.channels import channel_update

    channel_update(project, "GCM", {"ApiKey": "k", "DefaultAuthenticationMethod": "KEY"}, by="t")
    template_create("PUSH", "ping", {"Default": {"Title": "Hey {{Attributes.FirstName}}", "Body": "News"}})
    endpoint(project, "ann", channel_type="GCM", address="token-1")
    activities = {"push": {"PUSH": {"TemplateName": "ping", "MessageConfig": {"TimeToLive": "120"}}}}
    journey = make_journey(project, activities, "push", segment=pro)

    tick(NOW)

    row = Delivery.objects.get(journey_id=journey.id)
    assert (row.channel, row.payload["Title"], row.payload["TimeToLive"]) == ("GCM", "Hey Ann", 120)
    assert send_statuses(project) == {"ann": "SUCCESS"}


def test_custom_activity_writes_a_custom_delivery_for_its_endpoint_types(project, pro):
    endpoint(project, "ann")
    endpoint(project, "bob", channel_type="SMS", address="+4915112345678")
    activities = {
        "hook": {
            "CUSTOM": {
                "DeliveryUri": "https://example.com/hook",
                "EndpointTypes": ["EMAIL"],
                "MessageConfig": {"Data": "hello"},
            }
        }
    }
    journey = make_journey(project, activities, "hook", segment=pro)

    tick(NOW)

    row = Delivery.objects.get(journey_id=journey.id)
    assert (row.channel, row.endpoint_key, row.payload["Data"], row.payload["DeliveryUri"]) == (
        "CUSTOM",
        "ann",
        "hello",
        "https://example.com/hook",
    )
    assert row.payload["JourneyId"] == journey.id and row.payload["ActivityId"] == "hook"
    assert send_statuses(project) == {"ann": "SUCCESS", "bob": "UNSUPPORTED_CHANNEL"}


def test_a_missing_template_fails_the_message_and_the_participant_goes_on(project, pro, email_on):
    endpoint(project, "ann")
    activities = {"mail": email("w", template="gone"), "w": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}}}
    journey = make_journey(project, activities, "mail", segment=pro)

    tick(NOW)

    assert send_statuses(project) == {"ann": "FAILURE"}
    assert JourneyParticipant.objects.get(journey=journey).activity_id == "w"
    event = Event.objects.get(event_type="_journey.send")
    assert "gone" in event.attributes["journey_send_status_message"]


def test_opted_out_endpoints_get_no_message_and_no_send_event(project, pro, welcome, email_on):
    endpoint(project, "ann", opt_out="ALL")
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro)

    tick(NOW)

    assert Delivery.objects.count() == 0 and send_statuses(project) == {}
    assert JourneyStep.objects.get(journey=journey).status == "ENDPOINT_OPT_OUT"


def test_journey_daily_cap_counts_this_journeys_messages_of_the_last_day(project, pro, welcome, email_on):
    endpoint(project, "ann")
    endpoint(project, "bob")
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro, Limits={"DailyCap": 1})
    delivery(project, "ann", journey.id, source=DeliverySource.JOURNEY, hours_ago=2)
    delivery(project, "bob", journey.id, source=DeliverySource.JOURNEY, hours_ago=25)

    tick(NOW)

    assert send_statuses(project) == {"ann": "DAILY_CAP", "bob": "SUCCESS"}


def test_the_projects_daily_limit_counts_every_source(project, pro, welcome, email_on):
    ApplicationSettings.objects.update_or_create(project=project, defaults={"limits_daily": 2})
    endpoint(project, "ann")
    endpoint(project, "bob")
    delivery(project, "ann", n=2)
    delivery(project, "bob", n=1)
    make_journey(project, {"mail": email()}, "mail", segment=pro)

    tick(NOW)

    assert send_statuses(project) == {"ann": "DAILY_CAP", "bob": "SUCCESS"}


def test_two_messages_in_one_pass_count_against_the_daily_cap(project, pro, welcome, email_on):
    endpoint(project, "ann")
    activities = {"one": email("two"), "two": email()}
    make_journey(project, activities, "one", segment=pro, Limits={"DailyCap": 1})

    tick(NOW)

    steps = dict(JourneyStep.objects.values_list("activity_id", "status"))
    assert steps == {"one": "SUCCESS", "two": "DAILY_CAP"}
    assert Delivery.objects.count() == 1


def test_timeframe_and_total_caps(project, pro, welcome, email_on):
    endpoint(project, "ann")
    endpoint(project, "bob")
    endpoint(project, "cat")
    journey = make_journey(
        project,
        {"mail": email()},
        "mail",
        segment=pro,
        Limits={"TimeframeCap": {"Cap": 2, "Days": 7}, "TotalCap": 3},
    )
    delivery(project, "ann", journey.id, source=DeliverySource.JOURNEY, hours_ago=24 * 3, n=2)
    delivery(project, "bob", journey.id, source=DeliverySource.JOURNEY, hours_ago=24 * 30, n=3)
    delivery(project, "cat", journey.id, source=DeliverySource.JOURNEY, hours_ago=24 * 30, n=2)

    tick(NOW)

    assert send_statuses(project) == {"ann": "TIMEFRAME_CAP", "bob": "TOTAL_CAP", "cat": "SUCCESS"}


def test_the_projects_journey_total_cap_counts_every_journey(project, pro, welcome, email_on):
    ApplicationSettings.objects.update_or_create(project=project, defaults={"journey_total_cap": 1})
    endpoint(project, "ann")
    delivery(project, "ann", "another", source=DeliverySource.JOURNEY, hours_ago=24 * 60)
    make_journey(project, {"mail": email()}, "mail", segment=pro)

    tick(NOW)

    assert send_statuses(project) == {"ann": "TOTAL_CAP"}


def test_quiet_time_in_the_endpoints_zone_drops_the_message_and_moves_on(project, pro, welcome, email_on):
    endpoint(project, "ann", timezone="Asia/Tokyo")  # 21:00 there
    endpoint(project, "bob", timezone="Europe/Berlin")  # 13:00 there
    endpoint(project, "cat")  # no zone: no quiet time
    activities = {"mail": email("w"), "w": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}}}
    journey = make_journey(project, activities, "mail", segment=pro, QuietTime={"Start": "20:00", "End": "08:00"})

    tick(NOW)

    assert send_statuses(project) == {"ann": "QUIET_TIME", "bob": "SUCCESS", "cat": "SUCCESS"}
    assert set(JourneyParticipant.objects.filter(journey=journey).values_list("activity_id", flat=True)) == {"w"}
    assert journey_activity_metrics(journey, "mail")["Metrics"]["QUIET_TIME"] == "1"


def test_the_projects_quiet_time_applies_when_the_journey_has_none(project, pro, welcome, email_on):
    ApplicationSettings.objects.update_or_create(
        project=project, defaults={"quiet_time_start": "20:00", "quiet_time_end": "08:00"}
    )
    endpoint(project, "ann", timezone="Asia/Tokyo")
    make_journey(project, {"mail": email()}, "mail", segment=pro)

    tick(NOW)

    assert send_statuses(project) == {"ann": "QUIET_TIME"}


def test_wait_for_quiet_time_holds_the_participant_until_it_ends(project, pro, welcome, email_on):
    endpoint(project, "ann", timezone="Asia/Tokyo")  # 21:00 there; quiet until 08:00 = 23:00 UTC
    journey = make_journey(
        project,
        {"mail": email()},
        "mail",
        segment=pro,
        QuietTime={"Start": "20:00", "End": "08:00"},
        WaitForQuietTime=True,
    )

    tick(NOW)
    held = JourneyParticipant.objects.get(journey=journey)
    tick(NOW + timedelta(hours=10))

    assert (held.activity_id, held.state, held.context) == ("mail", "ACTIVE", {"wait": "mail", "held": "QUIET_TIME"})
    assert held.next_at == NOW + timedelta(hours=11, minutes=1)
    assert Delivery.objects.count() == 0 and send_statuses(project) == {}
    tick(NOW + timedelta(hours=11, minutes=1))
    assert send_statuses(project) == {"ann": "SUCCESS"}
    assert JourneyParticipant.objects.get(journey=journey).state == "DONE"


def test_messages_per_second_spaces_the_send_times_across_batches(project, pro, welcome, email_on):
    for name in ("ann", "bob", "cat", "dan", "eve"):
        endpoint(project, name)
    limits = {"MessagesPerSecond": 2}
    make_journey(project, {"mail": email()}, "mail", segment=pro, Limits=limits, RefreshFrequency="P1D")

    tick(NOW)
    endpoint(project, "fay")  # entering later (event entry, a refresh): after the queued rows
    from journeys.engine.admission import participants_insert
    from journeys.models import Journey, JourneyRun

    journey = Journey.objects.get()
    participants_insert(journey, JourneyRun.objects.get(), {"fay": 1}, now=NOW)
    tick(NOW)

    times = sorted(Delivery.objects.values_list("next_attempt_at", flat=True))
    assert [int((t - NOW).total_seconds()) for t in times] == [0, 0, 1, 1, 2, 3]
