"""SendingSchedule (OpenHours, ClosedDays) and the end of a quiet-time hold, with controlled time.
NOW is Monday 2026-11-30 12:00 UTC."""
# ruff: noqa: F811 - pytest fixtures imported from test_engine_support are parameters here

from datetime import UTC, datetime, timedelta

from audience.models import Event
from campaigns.models import Delivery
from journeys.engine.sending import SendingSchedule
from journeys.models import JourneyParticipant, JourneyStep
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

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")
OFFICE = {"EMAIL": {day: [{"StartTime": "09:00", "EndTime": "17:00"}] for day in WEEKDAYS}}
QUIET = {"Start": "23:00", "End": "23:30"}


def statuses(project) -> dict[str, str]:
    return {
        e.endpoint_key: e.attributes["journey_send_status"]
        for e in Event.objects.filter(project=project, event_type="_journey.send")
    }


def participant(journey, key) -> JourneyParticipant:
    return JourneyParticipant.objects.get(journey=journey, endpoint_key=key)


def test_open_hours_in_local_time_hold_until_the_endpoints_next_open_hour(project, pro, welcome, email_on):
    endpoint(project, "ann", timezone="Asia/Tokyo")  # Monday 21:00 there: closed until Tuesday 09:00
    endpoint(project, "bob", timezone="Europe/Berlin")  # Monday 13:00 there: open
    journey = make_journey(
        project,
        {"mail": email()},
        "mail",
        segment=pro,
        LocalTime=True,
        QuietTime=QUIET,
        SendingSchedule=True,
        OpenHours=OFFICE,
    )

    tick(NOW)

    assert statuses(project) == {"bob": "SUCCESS"}
    held = participant(journey, "ann")
    assert (held.state, held.activity_id, held.context) == ("ACTIVE", "mail", {"wait": "mail", "held": "OPEN_HOURS"})
    assert held.next_at == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert not JourneyStep.objects.filter(participant=held).exists()

    tick(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    assert Delivery.objects.filter(endpoint_key="ann").count() == 0
    tick(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    assert statuses(project) == {"ann": "SUCCESS", "bob": "SUCCESS"}
    assert participant(journey, "ann").state == "DONE"
    assert Delivery.objects.filter(endpoint_key="ann").count() == 1


def test_open_hours_without_local_time_are_read_in_the_journeys_time_zone(project, pro, welcome, email_on):
    endpoint(project, "ann", timezone="Asia/Tokyo")  # its zone does not count without LocalTime
    hours = {"EMAIL": {"MONDAY": [{"StartTime": "15:00", "EndTime": "16:00"}]}}
    journey = make_journey(
        project,
        {"mail": email()},
        "mail",
        segment=pro,
        Schedule={"Timezone": "UTC+02"},
        SendingSchedule=True,
        OpenHours=hours,
    )

    tick(NOW)  # 14:00 at UTC+02

    assert participant(journey, "ann").next_at == NOW + timedelta(hours=1)
    tick(NOW + timedelta(hours=1))
    assert statuses(project) == {"ann": "SUCCESS"}


def test_a_closed_day_holds_until_it_ends_then_open_hours_apply(project, pro, welcome, email_on):
    endpoint(project, "ann")
    closed = {
        "EMAIL": [{"Name": "Holiday", "StartDateTime": "2026-11-30T00:00:00", "EndDateTime": "2026-12-01T00:00:00"}]
    }
    journey = make_journey(
        project,
        {"mail": email()},
        "mail",
        segment=pro,
        SendingSchedule=True,
        OpenHours=OFFICE,
        ClosedDays=closed,
    )

    tick(NOW)  # inside open hours, but on a closed day

    held = participant(journey, "ann")
    assert held.context["held"] == "CLOSED_DAYS"
    assert held.next_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the day's end, then Tuesday's opening
    tick(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert statuses(project) == {"ann": "SUCCESS"}


def test_closed_days_with_an_offset_and_of_another_channel(project, pro, welcome, email_on):
    endpoint(project, "ann")
    closed = {
        "SMS": [{"Name": "sms only", "StartDateTime": "2026-11-30T00:00:00Z", "EndDateTime": "2026-12-02T00:00:00Z"}],
        "EMAIL": [
            {"Name": "noon", "StartDateTime": "2026-11-30T13:00:00+01:00", "EndDateTime": "2026-11-30T14:30+01:00"}
        ],
    }
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro, SendingSchedule=True, ClosedDays=closed)

    tick(NOW)

    assert participant(journey, "ann").next_at == NOW + timedelta(hours=1, minutes=30)  # 14:30 at +01:00


def test_without_sending_schedule_open_hours_and_closed_days_are_ignored(project, pro, welcome, email_on):
    endpoint(project, "ann")
    closed = {"EMAIL": [{"Name": "x", "StartDateTime": "2026-11-30T00:00:00Z", "EndDateTime": "2026-12-01T00:00:00Z"}]}
    make_journey(project, {"mail": email()}, "mail", segment=pro, OpenHours={"EMAIL": {}}, ClosedDays=closed)

    tick(NOW)

    assert statuses(project) == {"ann": "SUCCESS"}


def test_open_hours_with_no_range_never_open_and_the_message_is_quiet_time(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(
        project, {"mail": email()}, "mail", segment=pro, SendingSchedule=True, OpenHours={"EMAIL": {"MONDAY": []}}
    )

    tick(NOW)

    assert statuses(project) == {"ann": "QUIET_TIME"}
    assert participant(journey, "ann").state == "DONE"


def test_next_open_across_a_week_and_daylight_saving_changes():
    rules = {"SMS": {"SUNDAY": [{"StartTime": "02:30", "EndTime": "03:00"}]}}
    schedule = SendingSchedule({"SendingSchedule": True, "LocalTime": True, "OpenHours": rules})
    zone = schedule.zone("Europe/Berlin")
    # 2027-10-31: 02:30 happens twice in Berlin; the range opens at the first (CEST, 00:30 UTC)
    assert schedule.next_open("SMS", datetime(2027, 10, 25, 12, 0, tzinfo=UTC), zone) == (
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
        "OPEN_HOURS",
    )
    # 2027-03-28: 02:00 → 03:00, the range does not exist that Sunday: the next one opens
    assert schedule.next_open("SMS", datetime(2027, 3, 22, 12, 0, tzinfo=UTC), zone) == (
        datetime(2027, 4, 4, 0, 30, tzinfo=UTC),
        "OPEN_HOURS",
    )
    # inside the range: open now; a channel without rules: always open
    inside = datetime(2027, 4, 4, 0, 45, tzinfo=UTC)
    assert schedule.next_open("SMS", inside, zone) == (inside, "")
    assert schedule.next_open("EMAIL", NOW, zone) == (NOW, "")
    assert not schedule.applies("EMAIL") and schedule.applies("SMS")
    assert schedule.zone("Not/AZone") == UTC  # LocalTime without a valid zone: the journey's (UTC)


def send_events(project, key) -> list[tuple[str, str, str | None]]:
    return [
        (e.client_event_id, e.attributes["journey_send_status"], e.attributes.get("journey_activity_type"))
        for e in Event.objects.filter(project=project, event_type="_journey.send", endpoint_key=key).order_by("id")
    ]


def test_a_participant_released_from_quiet_time_gets_quiet_time_wait_finished(project, pro, welcome, email_on):
    endpoint(project, "ann", timezone="Asia/Tokyo")  # 21:00 there; quiet until 08:00 = 23:00 UTC
    endpoint(project, "bob", timezone="Europe/Berlin")  # 13:00: not quiet, never held
    journey = make_journey(
        project,
        {"mail": email()},
        "mail",
        segment=pro,
        QuietTime={"Start": "20:00", "End": "08:00"},
        WaitForQuietTime=True,
    )

    tick(NOW)
    ann = participant(journey, "ann")
    assert send_events(project, "ann") == []
    tick(NOW + timedelta(hours=11))  # still quiet (the End minute is quiet): nothing
    assert send_events(project, "ann") == []

    tick(NOW + timedelta(hours=11, minutes=1))
    tick(NOW + timedelta(hours=11, minutes=2))  # nothing due: nothing twice

    assert send_events(project, "ann") == [
        (f"{ann.id}:mail:quiet", "QUIET_TIME_WAIT_FINISHED", None),
        (f"{ann.id}:mail", "SUCCESS", "EMAIL"),
    ]
    finished = Event.objects.get(client_event_id=f"{ann.id}:mail:quiet")
    assert finished.attributes["journey_id"] == journey.id and finished.attributes["journey_activity_id"] == "mail"
    assert finished.attributes["journey_run_id"] == ann.run_id
    assert [status for _, status, _ in send_events(project, "bob")] == ["SUCCESS"]
    assert participant(journey, "ann").context == {}


def test_released_from_quiet_time_into_closed_hours_waits_again_then_finishes_once(project, pro, welcome, email_on):
    endpoint(project, "ann", timezone="Asia/Tokyo")  # 21:00 Monday there
    journey = make_journey(
        project,
        {"mail": email()},
        "mail",
        segment=pro,
        LocalTime=True,
        QuietTime={"Start": "20:00", "End": "08:00"},
        WaitForQuietTime=True,
        SendingSchedule=True,
        OpenHours={"EMAIL": {"TUESDAY": [{"StartTime": "10:00", "EndTime": "12:00"}]}},
    )

    tick(NOW)  # quiet: held until Tuesday 08:01 Tokyo (23:01 UTC)
    assert participant(journey, "ann").context["held"] == "QUIET_TIME"
    tick(NOW + timedelta(hours=11, minutes=1))  # quiet time over, the channel not open until 10:00

    held = participant(journey, "ann")
    assert (held.context["held"], held.next_at) == ("OPEN_HOURS", datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert send_events(project, "ann") == []
    tick(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert [status for _, status, _ in send_events(project, "ann")] == ["QUIET_TIME_WAIT_FINISHED", "SUCCESS"]


def test_a_held_participant_whose_endpoint_opted_out_finishes_waiting_without_a_message(
    project, pro, welcome, email_on
):
    endpoint(project, "ann")
    journey = make_journey(
        project,
        {"mail": email()},
        "mail",
        segment=pro,
        SendingSchedule=True,
        OpenHours={"EMAIL": {"MONDAY": [{"StartTime": "13:00", "EndTime": "14:00"}]}},
    )

    tick(NOW)
    from audience.models import Endpoint

    Endpoint.objects.filter(key="ann").update(opt_out="ALL")
    tick(NOW + timedelta(hours=1))

    assert [status for _, status, _ in send_events(project, "ann")] == ["QUIET_TIME_WAIT_FINISHED"]
    assert JourneyStep.objects.get(journey=journey).status == "ENDPOINT_OPT_OUT"
    assert Delivery.objects.count() == 0
