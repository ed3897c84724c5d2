"""Event-triggered campaigns: matching stored events against a campaign's EventFilter (pure), and
the receiver's cost when a project has no event campaigns."""

from datetime import UTC, datetime

import pytest

from audience.signals import ENDPOINT, SYSTEM, StoredEvent
from campaigns.triggers import event_matches, events_stored_received, matching_events

WHEN = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def stored(event_type: str = "addToCart", *, key: str = "e1", attributes=None, metrics=None) -> StoredEvent:
    return StoredEvent(key, "ev-1", event_type, attributes or {}, metrics or {}, WHEN)


def endpoint_filter(**dimensions) -> dict:
    return {"FilterType": ENDPOINT, "Dimensions": dimensions}


def test_event_type_inclusive_matches_listed_types_only():
    event_filter = endpoint_filter(EventType={"DimensionType": "INCLUSIVE", "Values": ["addToCart", "purchase"]})

    assert event_matches(event_filter, stored("purchase"), source=ENDPOINT)
    assert not event_matches(event_filter, stored("pageView"), source=ENDPOINT)


def test_event_type_exclusive_matches_every_other_type():
    event_filter = endpoint_filter(EventType={"DimensionType": "EXCLUSIVE", "Values": ["pageView"]})

    assert event_matches(event_filter, stored("purchase"), source=ENDPOINT)
    assert not event_matches(event_filter, stored("pageView"), source=ENDPOINT)


def test_filter_type_picks_client_or_system_events():
    any_type = {"EventType": {"DimensionType": "EXCLUSIVE", "Values": ["none"]}}
    endpoint, system = {"FilterType": ENDPOINT, "Dimensions": any_type}, {"FilterType": SYSTEM, "Dimensions": any_type}

    assert event_matches(endpoint, stored("_session.start"), source=ENDPOINT)
    assert not event_matches(endpoint, stored("_email.open"), source=SYSTEM)
    assert event_matches(system, stored("_email.open"), source=SYSTEM)
    assert not event_matches(system, stored("purchase"), source=ENDPOINT)


@pytest.mark.parametrize(
    ("dimension", "value", "expected"),
    [
        ({"AttributeType": "INCLUSIVE", "Values": ["red", "blue"]}, "blue", True),
        ({"AttributeType": "INCLUSIVE", "Values": ["red"]}, "green", False),
        ({"AttributeType": "INCLUSIVE", "Values": ["red"]}, None, False),
        ({"Values": ["red"]}, "red", True),  # INCLUSIVE is the default
        ({"AttributeType": "EXCLUSIVE", "Values": ["red"]}, "green", True),
        ({"AttributeType": "EXCLUSIVE", "Values": ["red"]}, "red", False),
        ({"AttributeType": "EXCLUSIVE", "Values": ["red"]}, None, True),
        ({"AttributeType": "CONTAINS", "Values": ["shoe"]}, "running-shoes", True),
        ({"AttributeType": "CONTAINS", "Values": ["shoe"]}, "boots", False),
        ({"AttributeType": "CONTAINS", "Values": ["shoe"]}, None, False),
        ({"AttributeType": "BEFORE", "Values": ["2026-11-28T00:00:00Z"]}, "2026-11-27T23:59:59Z", True),
        ({"AttributeType": "BEFORE", "Values": ["2026-11-28T00:00:00Z"]}, "2026-11-28T00:00:00Z", False),
        ({"AttributeType": "AFTER", "Values": ["2026-11-28T00:00:00Z"]}, "2026-11-28T00:00:01+00:00", True),
        ({"AttributeType": "AFTER", "Values": ["2026-11-28T00:00:00Z"]}, "not a date", False),
        ({"AttributeType": "ON", "Values": ["2026-11-28T00:00:00Z"]}, "2026-11-28T23:00:00Z", True),
        ({"AttributeType": "ON", "Values": ["2026-11-28T00:00:00Z"]}, "2026-11-29T01:00:00+02:00", True),
        ({"AttributeType": "ON", "Values": ["2026-11-28T00:00:00Z"]}, "2026-11-29T00:00:00Z", False),
        ({"AttributeType": "BETWEEN", "Values": ["2026-01-01", "2026-12-31"]}, "2026-12-31", True),
        ({"AttributeType": "BETWEEN", "Values": ["2026-01-01", "2026-12-31"]}, "2027-01-01", False),
    ],
)
def test_attribute_dimensions_read_the_events_value_as_the_segment_compiler_does(dimension, value, expected):
    event_filter = endpoint_filter(Attributes={"item": dimension})
    attributes = {} if value is None else {"item": value}

    assert event_matches(event_filter, stored(attributes=attributes), source=ENDPOINT) is expected


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("GREATER_THAN", 10.0, True),
        ("GREATER_THAN", 12.5, False),
        ("GREATER_THAN_OR_EQUAL", 12.5, True),
        ("LESS_THAN", 12.5, False),
        ("LESS_THAN_OR_EQUAL", 12.5, True),
        ("EQUAL", 12.5, True),
        ("EQUAL", 12, False),
        ("SIMILAR", 12.5, False),
    ],
)
def test_metric_dimensions_compare_the_events_number(operator, value, expected):
    event_filter = endpoint_filter(Metrics={"price": {"ComparisonOperator": operator, "Value": value}})

    assert event_matches(event_filter, stored(metrics={"price": 12.5}), source=ENDPOINT) is expected


def test_missing_metric_does_not_match():
    event_filter = endpoint_filter(Metrics={"price": {"ComparisonOperator": "LESS_THAN", "Value": 100}})

    assert not event_matches(event_filter, stored(metrics={"quantity": 1}), source=ENDPOINT)


def test_every_dimension_must_match():
    event_filter = endpoint_filter(
        EventType={"DimensionType": "INCLUSIVE", "Values": ["purchase"]},
        Attributes={"store": {"AttributeType": "INCLUSIVE", "Values": ["web"]}},
        Metrics={"price": {"ComparisonOperator": "GREATER_THAN", "Value": 50}},
    )

    assert event_matches(
        event_filter, stored("purchase", attributes={"store": "web"}, metrics={"price": 60}), source=ENDPOINT
    )
    assert not event_matches(
        event_filter, stored("purchase", attributes={"store": "app"}, metrics={"price": 60}), source=ENDPOINT
    )
    assert not event_matches(
        event_filter, stored("purchase", attributes={"store": "web"}, metrics={"price": 40}), source=ENDPOINT
    )


def test_matching_events_skip_the_campaigns_own_send_events():
    event_filter = {"FilterType": SYSTEM, "Dimensions": {"EventType": {"Values": ["_campaign.send"]}}}
    events = [
        stored("_campaign.send", key="b", attributes={"campaign_id": "other"}),
        stored("_campaign.send", key="a", attributes={"campaign_id": "other"}),
        stored("_campaign.send", key="a", attributes={"campaign_id": "other"}),
        stored("_campaign.send", key="c", attributes={"campaign_id": "me"}),
    ]

    assert [e.endpoint_key for e in matching_events("me", event_filter, events, source=SYSTEM)] == ["b", "a", "a"]


def test_a_project_without_event_campaigns_costs_one_query(project, django_assert_num_queries):
    with django_assert_num_queries(1):
        triggered = events_stored_received(
            None, project_id=project.id, source=ENDPOINT, stored_at=WHEN, events=(stored(),)
        )

    assert triggered == []
