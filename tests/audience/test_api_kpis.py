"""Pinpoint's KPI operations through boto3: every value checked against numbers worked out by hand
from the fixture events (Engage's own events, PutEvents, and a campaign sent by the engine)."""
# ruff: noqa: F811 - pytest fixtures imported from the campaign tests are parameters here

from datetime import UTC, datetime, time, timedelta

import pytest

from audience.analytics.kpis import CATALOG
from audience.services import SystemEvent, events_record
from campaigns.models import Campaign, CampaignActivity
from journeys.models import Journey
from projects.models import Role
from tests.campaigns.test_campaign_runs import (
    endpoint,
    make_campaign,
    pro,  # noqa: F401 - fixture
    run_all,
)
from tests.campaigns.test_deliveries import email_channel, smtp_sink  # noqa: F401 - fixtures
from tests.conftest import send_signed
from tests.factories import MembershipFactory, UserFactory

TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=3), TODAY - timedelta(days=2)


def at(day, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


FIRST, LAST = at(D1, 0), datetime.combine(D2, time(23, 59, 59), tzinfo=UTC)


def record(project, endpoint_key: str, event_id: str, kind: str, when: datetime, **attributes) -> None:
    events_record([SystemEvent(project.id, endpoint_key, event_id, kind, when, attributes)])


def rows_of(answer: dict, key: str) -> list[dict]:
    return answer[key]["KpiResult"]["Rows"]


def values(answer: dict, key: str) -> dict:
    """{group value (None for a single value): float}, checking each row's shape."""
    found = {}
    for row in rows_of(answer, key):
        (value,) = row["Values"]
        assert value["Type"] == "Double"
        group = None
        if row["GroupedBys"]:
            (grouped,) = row["GroupedBys"]
            assert grouped["Type"] == "String"
            group = (grouped["Key"], grouped["Value"])
        found[group] = (value["Key"], float(value["Value"]))
    return found


def app_kpi(pinpoint, project, name, start=FIRST, end=LAST) -> dict:
    return values(
        pinpoint.get_application_date_range_kpi(ApplicationId=project.id, KpiName=name, StartTime=start, EndTime=end),
        "ApplicationDateRangeKpiResponse",
    )


def campaign_kpi(pinpoint, project, campaign_id, name, start=FIRST, end=LAST) -> dict:
    return values(
        pinpoint.get_campaign_date_range_kpi(
            ApplicationId=project.id, CampaignId=campaign_id, KpiName=name, StartTime=start, EndTime=end
        ),
        "CampaignDateRangeKpiResponse",
    )


def journey_kpi(pinpoint, project, journey_id, name, start=FIRST, end=LAST) -> dict:
    return values(
        pinpoint.get_journey_date_range_kpi(
            ApplicationId=project.id, JourneyId=journey_id, KpiName=name, StartTime=start, EndTime=end
        ),
        "JourneyDateRangeKpiResponse",
    )


@pytest.fixture
def campaign(project):
    return Campaign.objects.create(project=project, name="spring")


def campaign_email(project, campaign_id, activity, endpoint_key, kind, when, *, event_id=None, **attributes):
    attributes = {
        "campaign_id": campaign_id,
        "campaign_activity_id": activity,
        "treatment_id": "0",
        "message_id": f"m-{activity}-{endpoint_key}",
        **attributes,
    }
    record(project, endpoint_key, event_id or f"{activity}-{endpoint_key}-{kind}-{when:%d%H}", kind, when, **attributes)


@pytest.fixture
def mailed(project, campaign):
    """Activity a1 (day 1): ann, bob, cy, dan accepted; eve failed in the outbox; dan's bounced
    after acceptance; ann opened twice (one message), bob once; ann clicked twice.
    Activity a2 (day 2): ann and bob accepted, nothing else."""
    c = campaign.id
    for who in ("ann", "bob", "cy", "dan"):
        campaign_email(project, c, "a1", who, "_email.send", at(D1))
    campaign_email(project, c, "a1", "eve", "_email.hardbounce", at(D1), error="550 no such user")
    campaign_email(project, c, "a1", "dan", "_email.hardbounce", at(D1, 11))
    campaign_email(project, c, "a1", "ann", "_email.open", at(D1, 12))
    campaign_email(project, c, "a1", "ann", "_email.open", at(D1, 14))
    campaign_email(project, c, "a1", "bob", "_email.open", at(D1, 12))
    campaign_email(project, c, "a1", "ann", "_email.click", at(D1, 12), link="https://example.org/a")
    campaign_email(project, c, "a1", "ann", "_email.click", at(D1, 13), link="https://example.org/b")
    for who in ("ann", "bob"):
        campaign_email(project, c, "a2", who, "_email.send", at(D2))
    return campaign


def test_campaign_delivery_rates_opens_and_clicks_per_activity(pinpoint, project, mailed):
    c = mailed.id

    # attempted a1 = 4 accepted + 1 failed = 5, delivered = 4 - 1 bounced = 3; a2: 2 of 2.
    assert campaign_kpi(pinpoint, project, c, "successful-delivery-rate") == {None: ("SuccessfulDeliveryRate", 5 / 7)}
    assert campaign_kpi(pinpoint, project, c, "successful-delivery-rate-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "a1"): ("SuccessfulDeliveryRate", 0.6),
        ("CampaignActivityId", "a2"): ("SuccessfulDeliveryRate", 1.0),
    }
    assert campaign_kpi(pinpoint, project, c, "successful-delivery-rate-grouped-by-date") == {
        ("Date", D1.isoformat()): ("SuccessfulDeliveryRate", 0.6),
        ("Date", D2.isoformat()): ("SuccessfulDeliveryRate", 1.0),
    }
    assert campaign_kpi(pinpoint, project, c, "attempted-deliveries-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "a1"): ("AttemptedDeliveries", 5.0),
        ("CampaignActivityId", "a2"): ("AttemptedDeliveries", 2.0),
    }
    assert campaign_kpi(pinpoint, project, c, "successful-deliveries-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "a1"): ("SuccessfulDeliveries", 3.0),
        ("CampaignActivityId", "a2"): ("SuccessfulDeliveries", 2.0),
    }
    # Hard bounces: eve's (outbox) and dan's (after acceptance), of 5 attempted in a1.
    assert campaign_kpi(pinpoint, project, c, "hard-bounce-rate") == {None: ("HardBounceRate", 2 / 7)}
    assert campaign_kpi(pinpoint, project, c, "hard-bounce-rate-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "a1"): ("HardBounceRate", 0.4),
        ("CampaignActivityId", "a2"): ("HardBounceRate", 0.0),
    }
    # Two messages opened (ann's twice) of 3 + 2 delivered; a2's opened none: 0, not null.
    assert campaign_kpi(pinpoint, project, c, "email-open-rate") == {None: ("EmailOpenRate", 0.4)}
    assert campaign_kpi(pinpoint, project, c, "email-open-rate-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "a1"): ("EmailOpenRate", 2 / 3),
        ("CampaignActivityId", "a2"): ("EmailOpenRate", 0.0),
    }
    assert campaign_kpi(pinpoint, project, c, "direct-email-opens-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "a1"): ("DirectEmailOpens", 2.0)
    }
    assert campaign_kpi(pinpoint, project, c, "clicks-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "a1"): ("Clicks", 2.0)
    }


def test_unique_deliveries_count_distinct_endpoints_at_request_time(pinpoint, project, mailed):
    c = mailed.id

    assert campaign_kpi(pinpoint, project, c, "unique-deliveries") == {None: ("UniqueDeliveries", 4.0)}
    assert campaign_kpi(pinpoint, project, c, "unique-deliveries-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "a1"): ("UniqueDeliveries", 4.0),
        ("CampaignActivityId", "a2"): ("UniqueDeliveries", 2.0),
    }
    assert campaign_kpi(pinpoint, project, c, "unique-deliveries-grouped-by-date") == {
        ("Date", D1.isoformat()): ("UniqueDeliveries", 4.0),
        ("Date", D2.isoformat()): ("UniqueDeliveries", 2.0),
    }
    # Day 2 alone: only a2's two endpoints.
    assert campaign_kpi(pinpoint, project, c, "unique-deliveries", start=at(D2, 0)) == {None: ("UniqueDeliveries", 2.0)}


def push_send(project, campaign_id, who, status="SUCCESS", activity="p1"):
    record(
        project,
        who,
        f"{activity}-{who}-send",
        "_campaign.send",
        at(D1),
        campaign_id=campaign_id,
        campaign_activity_id=activity,
        treatment_id="0",
        delivery_type="GCM",
        campaign_send_status=status,
    )


def test_push_open_rate_counts_the_apps_opened_notifications(pinpoint, project, campaign):
    for who in ("ann", "bob", "cy", "dan"):
        push_send(project, campaign.id, who)
    push_send(project, campaign.id, "eve", "FAILURE_PERMANENT")
    opened = {"campaign_id": campaign.id, "campaign_activity_id": "p1", "treatment_id": "0"}
    for who in ("ann", "bob"):
        pinpoint.put_events(
            ApplicationId=project.id,
            EventsRequest={
                "BatchItem": {
                    who: {
                        "Endpoint": {},
                        "Events": {
                            "o": {
                                "EventType": "_campaign.opened_notification",
                                "Timestamp": at(D1, 12).isoformat(),
                                "Attributes": opened,
                            }
                        },
                    }
                }
            },
        )

    assert campaign_kpi(pinpoint, project, campaign.id, "push-open-rate") == {None: ("PushOpenRate", 0.5)}
    assert campaign_kpi(pinpoint, project, campaign.id, "direct-push-opens-grouped-by-campaign-activity") == {
        ("CampaignActivityId", "p1"): ("DirectPushOpens", 2.0)
    }
    assert campaign_kpi(pinpoint, project, campaign.id, "successful-delivery-rate") == {
        None: ("SuccessfulDeliveryRate", 0.8)
    }
    # A push send's SUCCESS is its delivery (the outbox writes no event for push).
    assert campaign_kpi(pinpoint, project, campaign.id, "unique-deliveries") == {None: ("UniqueDeliveries", 4.0)}
    assert campaign_kpi(pinpoint, project, campaign.id, "email-open-rate") == {}


def test_application_campaign_kpis_cover_every_campaign_and_no_transactional_message(pinpoint, project, mailed):
    other = Campaign.objects.create(project=project, name="autumn")
    campaign_email(project, other.id, "b1", "zoe", "_email.send", at(D2))
    campaign_email(project, other.id, "b1", "ann", "_email.send", at(D2))
    campaign_email(project, other.id, "b1", "zoe", "_email.open", at(D2, 11))
    record(project, "tx", "tx-send", "_email.send", at(D1), message_id="tx-1")  # transactional

    assert app_kpi(pinpoint, project, "unique-deliveries") == {None: ("UniqueDeliveries", 5.0)}
    assert app_kpi(pinpoint, project, "unique-deliveries-grouped-by-campaign") == {
        ("CampaignId", mailed.id): ("UniqueDeliveries", 4.0),
        ("CampaignId", other.id): ("UniqueDeliveries", 2.0),
    }
    assert app_kpi(pinpoint, project, "unique-deliveries-grouped-by-date") == {
        ("Date", D1.isoformat()): ("UniqueDeliveries", 4.0),
        ("Date", D2.isoformat()): ("UniqueDeliveries", 3.0),
    }
    assert app_kpi(pinpoint, project, "successful-delivery-rate") == {None: ("SuccessfulDeliveryRate", 7 / 9)}
    assert app_kpi(pinpoint, project, "successful-delivery-rate-grouped-by-date") == {
        ("Date", D1.isoformat()): ("SuccessfulDeliveryRate", 0.6),
        ("Date", D2.isoformat()): ("SuccessfulDeliveryRate", 1.0),
    }
    assert app_kpi(pinpoint, project, "successful-deliveries-grouped-by-campaign") == {
        ("CampaignId", mailed.id): ("SuccessfulDeliveries", 5.0),
        ("CampaignId", other.id): ("SuccessfulDeliveries", 2.0),
    }
    assert app_kpi(pinpoint, project, "email-open-rate-grouped-by-campaign") == {
        ("CampaignId", mailed.id): ("EmailOpenRate", 0.4),
        ("CampaignId", other.id): ("EmailOpenRate", 0.5),
    }
    assert app_kpi(pinpoint, project, "email-open-rate") == {None: ("EmailOpenRate", 3 / 7)}
    answer = pinpoint.get_application_date_range_kpi(
        ApplicationId=project.id, KpiName="unique-deliveries-grouped-by-campaign", StartTime=FIRST, EndTime=LAST
    )["ApplicationDateRangeKpiResponse"]
    assert [r["GroupedBys"][0]["Value"] for r in answer["KpiResult"]["Rows"]] == sorted([mailed.id, other.id])


def test_transactional_email_kpis(pinpoint, project):
    sent = {"source": "TRANSACTIONAL"}
    record(project, "ann", "s-ann", "_email.send", at(D1), message_id="t-ann", **sent)
    record(project, "", "s-x", "_email.send", at(D1), message_id="t-x", destination="x@example.org", **sent)
    record(project, "", "s-y", "_email.send", at(D2), message_id="t-y", destination="y@example.org", **sent)
    record(project, "", "f-z", "_email.hardbounce", at(D2), message_id="t-z", destination="z@example.org", error="550")
    record(project, "ann", "o1", "_email.open", at(D1, 11), message_id="t-ann")
    record(project, "ann", "o2", "_email.open", at(D2, 12), message_id="t-ann")
    record(project, "", "o3", "_email.open", at(D2, 12), message_id="t-x", destination="x@example.org")
    record(project, "ann", "k1", "_email.click", at(D1, 11), message_id="t-ann")
    record(project, "", "c1", "_email.complaint", at(D2, 13), message_id="t-y", destination="y@example.org")
    record(project, "", "b1", "_email.softbounce", at(D2, 13), message_id="t-y", destination="y@example.org")
    # A campaign's email is no transactional message.
    record(project, "bob", "cs", "_email.send", at(D1), campaign_id="c", campaign_activity_id="a", message_id="c-b")

    expected = {
        "txn-emails-sent": ("TxnEmailsSent", 4.0),
        "txn-emails-delivered": ("TxnEmailsDelivered", 3.0),
        "txn-emails-delivery-rate": ("TxnEmailsDeliveryRate", 0.75),
        "txn-emails-hard-bounced": ("TxnEmailsHardBounced", 1.0),
        "txn-emails-soft-bounced": ("TxnEmailsSoftBounced", 1.0),
        "txn-emails-with-complaints": ("TxnEmailsWithComplaints", 1.0),
        "txn-emails-complaint-rate": ("TxnEmailsComplaintRate", 0.25),
        "txn-emails-opened": ("TxnEmailsOpened", 3.0),
        "txn-emails-clicked": ("TxnEmailsClicked", 1.0),
        "txn-emails-unique-opens": ("TxnEmailsUniqueOpens", 2.0),  # ann and x@example.org
        "txn-emails-unique-clicks": ("TxnEmailsUniqueClicks", 1.0),
    }
    assert {name: app_kpi(pinpoint, project, name) for name in expected} == {
        name: {None: value} for name, value in expected.items()
    }
    assert app_kpi(pinpoint, project, "txn-emails-sent-grouped-by-date") == {
        ("Date", D1.isoformat()): ("TxnEmailsSent", 2.0),
        ("Date", D2.isoformat()): ("TxnEmailsSent", 2.0),
    }
    assert app_kpi(pinpoint, project, "txn-emails-unique-opens-grouped-by-date") == {
        ("Date", D1.isoformat()): ("TxnEmailsUniqueOpens", 1.0),
        ("Date", D2.isoformat()): ("TxnEmailsUniqueOpens", 2.0),
    }
    assert app_kpi(pinpoint, project, "txn-emails-delivery-rate-grouped-by-date") == {
        ("Date", D1.isoformat()): ("TxnEmailsDeliveryRate", 1.0),
        ("Date", D2.isoformat()): ("TxnEmailsDeliveryRate", 0.5),
    }


def sms(project, event_id, kind, when=None, **attributes):
    record(project, "", event_id, kind, when or at(D1), source="TRANSACTIONAL", **attributes)


def test_transactional_sms_kpis_per_day_country_and_part(pinpoint, project):
    us, de = "+12025550123", "+4915123456789"
    sms(project, "m1", "_SMS.BUFFERED", message_id="m1", destination_phone_number=us, number_of_message_parts="2")
    sms(project, "m2", "_SMS.BUFFERED", message_id="m2", destination_phone_number=de)
    sms(project, "m2f", "_SMS.FAILURE", at(D2), message_id="m2", destination_phone_number=de)  # carrier: failed
    sms(project, "m3", "_SMS.FAILURE", at(D2), message_id="m3", destination_phone_number=de, error="unreachable")
    sms(project, "m4", "_SMS.BUFFERED", at(D2), message_id="m4", destination_phone_number=us, iso_country_code="ca")
    sms(
        project,
        "m5",
        "_SMS.BUFFERED",
        at(D2),
        message_id="m5",
        destination_phone_number="12",
        number_of_message_parts="3",
    )

    # sent = 4 accepted + 1 failed in the outbox; delivered = 4 - m2 (failed after acceptance).
    assert app_kpi(pinpoint, project, "txn-sms-sent") == {None: ("TxnSmsSent", 5.0)}
    assert app_kpi(pinpoint, project, "txn-sms-delivered") == {None: ("TxnSmsDelivered", 3.0)}
    assert app_kpi(pinpoint, project, "txn-sms-delivery-rate") == {None: ("TxnSmsDeliveryRate", 0.6)}
    assert app_kpi(pinpoint, project, "txn-sms-sent-grouped-by-date") == {
        ("Date", D1.isoformat()): ("TxnSmsSent", 2.0),
        ("Date", D2.isoformat()): ("TxnSmsSent", 3.0),
    }
    assert app_kpi(pinpoint, project, "txn-sms-sent-grouped-by-country") == {
        ("Country", "CA"): ("TxnSmsSent", 1.0),  # the event's own iso_country_code wins
        ("Country", "DE"): ("TxnSmsSent", 2.0),
        ("Country", "US"): ("TxnSmsSent", 1.0),
        ("Country", "ZZ"): ("TxnSmsSent", 1.0),  # a number no country owns
    }
    assert app_kpi(pinpoint, project, "txn-sms-delivered-grouped-by-country") == {
        ("Country", "CA"): ("TxnSmsDelivered", 1.0),
        ("Country", "DE"): ("TxnSmsDelivered", 0.0),
        ("Country", "US"): ("TxnSmsDelivered", 1.0),
        ("Country", "ZZ"): ("TxnSmsDelivered", 1.0),
    }
    assert app_kpi(pinpoint, project, "txn-sms-sent-by-parts") == {None: ("TxnSmsSentByParts", 7.0)}
    assert app_kpi(pinpoint, project, "txn-sms-delivered-by-parts") == {None: ("TxnSmsDeliveredByParts", 6.0)}
    assert app_kpi(pinpoint, project, "txn-sms-delivered-by-parts-grouped-by-country") == {
        ("Country", "CA"): ("TxnSmsDeliveredByParts", 1.0),
        ("Country", "DE"): ("TxnSmsDeliveredByParts", 0.0),
        ("Country", "US"): ("TxnSmsDeliveredByParts", 2.0),
        ("Country", "ZZ"): ("TxnSmsDeliveredByParts", 3.0),
    }


@pytest.mark.parametrize(
    "name",
    [
        "txn-sms-error-distribution",
        "txn-sms-average-price-grouped-by-country",
        "txn-sms-average-price-by-parts-grouped-by-country",
        "txn-sms-total-price-grouped-by-country",
    ],
)
def test_kpis_engage_cannot_compute_answer_no_rows(pinpoint, project, name):
    sms(project, "m1", "_SMS.FAILURE", message_id="m1", destination_phone_number="+12025550123", error="x")

    answer = pinpoint.get_application_date_range_kpi(
        ApplicationId=project.id, KpiName=name, StartTime=FIRST, EndTime=LAST
    )["ApplicationDateRangeKpiResponse"]

    assert answer["KpiResult"] == {"Rows": []}
    assert answer["KpiName"] == name


def test_sms_spend_of_a_campaign_answers_no_rows(pinpoint, project, campaign):
    assert campaign_kpi(pinpoint, project, campaign.id, "sms-spend") == {}


@pytest.fixture
def journey(project):
    return Journey.objects.create(project=project, name="welcome", definition={"StartActivity": "mail1"})


def journey_email(project, journey_id, activity, who, kind, when=None, *, n=0, **attributes):
    attributes = {
        "journey_id": journey_id,
        "journey_activity_id": activity,
        "message_id": f"j-{activity}-{who}",
        **attributes,
    }
    record(project, who, f"{activity}-{who}-{kind}-{n}", kind, when or at(D1), **attributes)


def test_journey_email_kpis_overall_and_per_activity(pinpoint, project, journey):
    j = journey.id
    for who in ("ann", "bob"):
        journey_email(project, j, "mail1", who, "_email.send")
    journey_email(project, j, "mail2", "ann", "_email.send", at(D2))
    journey_email(project, j, "mail2", "cy", "_email.hardbounce", at(D2), error="550")
    journey_email(project, j, "mail1", "bob", "_email.hardbounce", at(D1, 11))
    journey_email(project, j, "mail1", "ann", "_email.open", at(D1, 12))
    journey_email(project, j, "mail1", "ann", "_email.open", at(D1, 15), n=1)
    for n in range(3):
        journey_email(project, j, "mail1", "ann", "_email.click", at(D1, 12 + n), n=n)
    journey_email(project, j, "mail2", "ann", "_email.unsubscribe", at(D2, 12))
    journey_email(project, j, "mail2", "ann", "_email.complaint", at(D2, 12))
    journey_email(project, j, "mail1", "ann", "_email.softbounce", at(D1, 11))
    journey_email(project, j, "mail1", "ann", "_email.rejected", at(D1, 11))
    journey_email(project, "another-journey", "mail1", "dan", "_email.send")

    single = {
        "sent": 4.0,
        "delivered": 2.0,
        "hardbounced": 2.0,
        "softbounced": 1.0,
        "rejected": 1.0,
        "opened": 1.0,
        "clicked": 3.0,
        "unsubscribed": 1.0,
        "complained": 1.0,
    }
    for what, value in single.items():
        key = f"JourneyEmails{what.capitalize()}"
        assert journey_kpi(pinpoint, project, j, f"journey-emails-{what}") == {None: (key, value)}, what
    assert journey_kpi(pinpoint, project, j, "emails-sent-grouped-by-journey-activity") == {
        ("JourneyActivityId", "mail1"): ("EmailsSent", 2.0),
        ("JourneyActivityId", "mail2"): ("EmailsSent", 2.0),
    }
    assert journey_kpi(pinpoint, project, j, "emails-delivered-grouped-by-journey-activity") == {
        ("JourneyActivityId", "mail1"): ("EmailsDelivered", 1.0),
        ("JourneyActivityId", "mail2"): ("EmailsDelivered", 1.0),
    }
    assert journey_kpi(pinpoint, project, j, "emails-clicked-grouped-by-journey-activity") == {
        ("JourneyActivityId", "mail1"): ("EmailsClicked", 3.0)
    }
    assert journey_kpi(pinpoint, project, j, "journey-emails-sent", start=at(D2, 0)) == {
        None: ("JourneyEmailsSent", 2.0)
    }


def test_a_campaign_sent_by_the_engine_reports_its_deliveries(pinpoint, project, pro, email_channel, smtp_sink):
    endpoint(project, "ann")
    endpoint(project, "bob")
    endpoint(project, "cat", plan="free")
    sent_at = at(D2, 9)
    campaign = make_campaign(project, pro, now=sent_at)

    run_all(campaign, sent_at)

    assert sorted(m["To"] for m in smtp_sink.messages) == ["ann@example.org", "bob@example.org"]
    activity = CampaignActivity.objects.get(campaign=campaign)
    assert campaign_kpi(pinpoint, project, campaign.id, "successful-delivery-rate") == {
        None: ("SuccessfulDeliveryRate", 1.0)
    }
    assert campaign_kpi(pinpoint, project, campaign.id, "unique-deliveries-grouped-by-campaign-activity") == {
        ("CampaignActivityId", activity.id): ("UniqueDeliveries", 2.0)
    }
    assert app_kpi(pinpoint, project, "successful-deliveries-grouped-by-campaign") == {
        ("CampaignId", campaign.id): ("SuccessfulDeliveries", 2.0)
    }


# --- the response, the range and the errors ------------------------------------------------------


def test_the_response_is_pinpoints_shape_with_the_range_asked(pinpoint, project, mailed):
    answer = pinpoint.get_campaign_date_range_kpi(
        ApplicationId=project.id, CampaignId=mailed.id, KpiName="unique-deliveries", StartTime=FIRST, EndTime=LAST
    )["CampaignDateRangeKpiResponse"]

    assert answer == {
        "ApplicationId": project.id,
        "CampaignId": mailed.id,
        "KpiName": "unique-deliveries",
        "StartTime": FIRST,
        "EndTime": LAST.replace(microsecond=0),
        "KpiResult": {
            "Rows": [{"GroupedBys": [], "Values": [{"Key": "UniqueDeliveries", "Type": "Double", "Value": "4.0"}]}]
        },
    }


def test_without_a_range_the_preceding_31_days_are_read(pinpoint, project, mailed):
    before = datetime.now(UTC)

    answer = pinpoint.get_application_date_range_kpi(ApplicationId=project.id, KpiName="unique-deliveries")[
        "ApplicationDateRangeKpiResponse"
    ]

    assert answer["StartTime"] == datetime.combine(TODAY - timedelta(days=30), time(0), tzinfo=UTC)
    assert before - timedelta(seconds=1) <= answer["EndTime"] <= datetime.now(UTC)
    assert rows_of({"r": answer}, "r")[0]["Values"][0]["Value"] == "4.0"


def test_a_start_alone_reads_31_days_from_it(pinpoint, project, mailed):
    start = at(TODAY - timedelta(days=40), 0)

    answer = pinpoint.get_application_date_range_kpi(
        ApplicationId=project.id, KpiName="unique-deliveries", StartTime=start
    )["ApplicationDateRangeKpiResponse"]

    assert answer["EndTime"] == datetime.combine(start.date() + timedelta(days=30), time(23, 59, 59, 999000), UTC)
    assert answer["KpiResult"]["Rows"] == []  # the fixture's days are later


def bad_request(pinpoint, **query) -> str:
    with pytest.raises(pinpoint.exceptions.BadRequestException) as raised:
        pinpoint.get_application_date_range_kpi(ApplicationId=query.pop("app"), **query)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return raised.value.response["Error"]["Message"]


def test_range_rules_answer_400(pinpoint, project):
    name = "successful-delivery-rate"
    old = at(TODAY - timedelta(days=90), 0)

    assert "after" in bad_request(pinpoint, app=project.id, KpiName=name, StartTime=LAST, EndTime=FIRST)
    assert "31 calendar days" in bad_request(
        pinpoint, app=project.id, KpiName=name, StartTime=at(TODAY - timedelta(days=31), 0), EndTime=at(TODAY, 1)
    )
    assert "90 days" in bad_request(pinpoint, app=project.id, KpiName=name, StartTime=old, EndTime=old)
    # The limits themselves are allowed: 31 calendar days, a start 89 days ago.
    pinpoint.get_application_date_range_kpi(
        ApplicationId=project.id, KpiName=name, StartTime=at(TODAY - timedelta(days=30), 0), EndTime=at(TODAY, 23)
    )
    day89 = at(TODAY - timedelta(days=89), 0)
    pinpoint.get_application_date_range_kpi(ApplicationId=project.id, KpiName=name, StartTime=day89, EndTime=day89)


def test_a_time_that_is_no_iso_8601_answers_400(live_server, project, access_key):
    key_id, secret = access_key
    path = f"/v1/apps/{project.id}/kpis/daterange/unique-deliveries?start-time=yesterday"

    answer = send_signed(live_server, "GET", path, key_id=key_id, secret=secret)

    assert (answer.status, answer.headers["x-amzn-errortype"]) == (400, "BadRequestException")
    assert "start-time must be a date and time in ISO 8601" in answer.json()["Message"]


def test_unknown_kpi_names_answer_400_naming_the_scope(pinpoint, project, campaign, journey):
    assert "not a KPI of an application" in bad_request(pinpoint, app=project.id, KpiName="open-rates")
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="not a KPI of a campaign"):
        pinpoint.get_campaign_date_range_kpi(ApplicationId=project.id, CampaignId=campaign.id, KpiName="txn-sms-sent")
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="not a KPI of a journey"):
        pinpoint.get_journey_date_range_kpi(ApplicationId=project.id, JourneyId=journey.id, KpiName="email-open-rate")


def test_another_projects_campaign_or_journey_is_not_found(pinpoint, project):
    stranger = MembershipFactory(user=UserFactory(username="mallory"), role=Role.OWNER).project
    theirs = Campaign.objects.create(project=stranger, name="theirs")
    their_journey = Journey.objects.create(project=stranger, name="theirs")
    campaign_email(stranger, theirs.id, "a1", "ann", "_email.send", at(D1))

    with pytest.raises(pinpoint.exceptions.NotFoundException, match=f"Campaign {theirs.id} not found"):
        pinpoint.get_campaign_date_range_kpi(
            ApplicationId=project.id, CampaignId=theirs.id, KpiName="unique-deliveries"
        )
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_journey_date_range_kpi(
            ApplicationId=project.id, JourneyId=their_journey.id, KpiName="journey-emails-sent"
        )
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_application_date_range_kpi(ApplicationId=stranger.id, KpiName="unique-deliveries")
    assert app_kpi(pinpoint, project, "unique-deliveries") == {}  # their events are not ours


def test_every_catalog_kpi_answers(pinpoint, project, mailed, journey):
    """No KPI name of any scope fails: each answers rows (or none) in Pinpoint's shape."""
    for name in CATALOG["APPLICATION"]:
        app_kpi(pinpoint, project, name)
    for name in CATALOG["CAMPAIGN"]:
        campaign_kpi(pinpoint, project, mailed.id, name)
    for name in CATALOG["JOURNEY"]:
        journey_kpi(pinpoint, project, journey.id, name)

    assert len(CATALOG["APPLICATION"]) + len(CATALOG["CAMPAIGN"]) + len(CATALOG["JOURNEY"]) == 84
