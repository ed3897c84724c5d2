"""The segment compiler against a plain Python reading of Pinpoint's rules (hypothesis)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audience.compiler import SegmentInvalid, compile_segment
from audience.models import AudienceUser, Endpoint
from tests.audience.segment_reference import matches
from tests.factories import ProjectFactory

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ATTRIBUTE_VALUES = [
    "music",
    "Music",
    "science",
    "sci-fi",
    "2026-11-01T00:00:00Z",
    "2026-11-28T10:30:00Z",
    "2026-11-28",
    "2026-11-28T23:30:00-02:00",
    "2025-01-15T08:00:00+01:00",
    "not a date",
    "2026-13-40",
]
DATES = ["2026-11-01T00:00:00Z", "2026-11-28T00:00:00Z", "2026-11-28T12:00:00+02:00", "2025-06-01"]
NAMES = ["Interests", "Signup", "a__b", 'x.y "z"']
POINTS = [(48.9, 2.3), (51.5, -0.1), (40.7, -74.0), (-33.9, 151.2)]

values = st.lists(st.sampled_from(ATTRIBUTE_VALUES), min_size=1, max_size=3, unique=True)
attribute_maps = st.dictionaries(st.sampled_from(NAMES), values, max_size=3)

endpoint_strategy = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["ACTIVE", "ACTIVE", "INACTIVE"]),
        "channel_type": st.sampled_from(["EMAIL", "SMS", "GCM"]),
        "attributes": attribute_maps,
        "metrics": st.dictionaries(st.sampled_from(["visits", "spend"]), st.sampled_from([-1.0, 0.0, 0.5, 3.0, 10.0])),
        "user_id": st.sampled_from(["", "u1", "u2"]),
        "last_active_hours": st.one_of(st.none(), st.integers(min_value=1, max_value=24 * 40)),
        "country": st.sampled_from(["US", "FR", ""]),
        "point": st.one_of(st.none(), st.sampled_from(POINTS)),
        "platform": st.sampled_from(["ios", "android", ""]),
        "app_version": st.sampled_from(["1.0", "2.0", ""]),
    }
)


@st.composite
def attribute_dimension(draw):
    kind = draw(st.sampled_from(["INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN"]))
    if kind in ("INCLUSIVE", "EXCLUSIVE"):
        chosen = draw(st.lists(st.sampled_from(ATTRIBUTE_VALUES), min_size=1, max_size=2))
    elif kind == "CONTAINS":
        chosen = draw(st.lists(st.sampled_from(["sic", "sci", "2026", "M", "-"]), min_size=1, max_size=2))
    elif kind == "BETWEEN":
        chosen = sorted(draw(st.lists(st.sampled_from(DATES), min_size=2, max_size=2)))
    else:
        chosen = [draw(st.sampled_from(DATES))]
    return {"AttributeType": kind, "Values": chosen}


set_dimension = st.fixed_dictionaries(
    {"DimensionType": st.sampled_from(["INCLUSIVE", "EXCLUSIVE"])},
)


@st.composite
def dimensions(draw):
    result = {}
    if draw(st.booleans()):
        result["Attributes"] = draw(
            st.dictionaries(st.sampled_from(NAMES), attribute_dimension(), min_size=1, max_size=2)
        )
    if draw(st.booleans()):
        result["UserAttributes"] = draw(
            st.dictionaries(st.sampled_from(NAMES), attribute_dimension(), min_size=1, max_size=1)
        )
    if draw(st.booleans()):
        result["Metrics"] = {
            draw(st.sampled_from(["visits", "spend"])): {
                "ComparisonOperator": draw(
                    st.sampled_from(
                        ["GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL"]
                    )
                ),
                "Value": draw(st.sampled_from([0.0, 0.5, 3.0])),
            }
        }
    if draw(st.booleans()):
        result["Behavior"] = {
            "Recency": {
                "Duration": draw(st.sampled_from(["HR_24", "DAY_7", "DAY_14", "DAY_30"])),
                "RecencyType": draw(st.sampled_from(["ACTIVE", "INACTIVE"])),
            }
        }
    if draw(st.booleans()):
        member = draw(st.sampled_from(["Platform", "Channel", "AppVersion"]))
        pool = {"Platform": ["ios", "android"], "Channel": ["EMAIL", "SMS", "GCM"], "AppVersion": ["1.0", "2.0"]}
        result["Demographic"] = {
            member: {
                "DimensionType": draw(st.sampled_from(["INCLUSIVE", "EXCLUSIVE"])),
                "Values": draw(st.lists(st.sampled_from(pool[member]), min_size=1, max_size=2)),
            }
        }
    if draw(st.booleans()):
        if draw(st.booleans()):
            result["Location"] = {
                "Country": {
                    "DimensionType": draw(st.sampled_from(["INCLUSIVE", "EXCLUSIVE"])),
                    "Values": draw(st.lists(st.sampled_from(["US", "FR", "DE"]), min_size=1, max_size=2)),
                }
            }
        else:
            lat, lon = draw(st.sampled_from(POINTS))
            result["Location"] = {
                "GPSPoint": {
                    "Coordinates": {"Latitude": lat + 0.3, "Longitude": lon},
                    "RangeInKilometers": draw(st.sampled_from([10.0, 50.0, 400.0, 6000.0])),
                }
            }
    return result


combination = st.sampled_from(["ALL", "ANY", "NONE"])


@st.composite
def definitions(draw):
    if draw(st.booleans()):
        return {"Dimensions": draw(dimensions())}
    groups = []
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        group = {
            "Dimensions": draw(st.lists(dimensions(), max_size=2)),
            "Type": draw(combination),
        }
        sources = draw(st.lists(st.sampled_from(["static-a", "static-b"]), max_size=2, unique=True))
        if sources:
            group["SourceSegments"] = [{"Id": s} for s in sources]
            group["SourceType"] = draw(combination)
        groups.append(group)
    return {"SegmentGroups": {"Groups": groups, "Include": draw(combination)}}


def _store(project, drawn: list[dict]) -> list[dict]:
    users = {"u1": {"Interests": ["music", "2026-11-28"]}, "u2": {"Signup": ["2026-11-01T00:00:00Z"]}}
    AudienceUser.objects.bulk_create([AudienceUser(project=project, user_id=u, attributes=a) for u, a in users.items()])
    rows = []
    for i, e in enumerate(drawn):
        lat, lon = e["point"] or (None, None)
        last = None if e["last_active_hours"] is None else NOW - timedelta(hours=e["last_active_hours"])
        rows.append(
            Endpoint(
                project=project,
                endpoint_id=f"e{i}",
                key=f"e{i}",
                channel_type=e["channel_type"],
                attributes=e["attributes"],
                metrics=e["metrics"],
                user_id=e["user_id"],
                country=e["country"],
                latitude=lat,
                longitude=lon,
                platform=e["platform"],
                app_version=e["app_version"],
                status=e["status"],
                effective_date=NOW,
                creation_date=NOW,
                cohort_id=i % 100,
                last_active_at=last,
            )
        )
    Endpoint.objects.bulk_create(rows)
    return [
        {
            **{f.attname: getattr(row, f.attname) for f in Endpoint._meta.concrete_fields},
            "user_attributes": users.get(row.user_id, {}),
        }
        for row in rows
    ]


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=st.lists(endpoint_strategy, max_size=10), definition=definitions())
def test_compiled_members_equal_pinpoints_rules(drawn, definition):
    with transaction.atomic():
        project = ProjectFactory()
        endpoints = _store(project, drawn)
        sources = {"static-a": {"e0", "e2", "e4"}, "static-b": {"e1", "e2", "e7"}}

        condition = compile_segment(definition, now=NOW, resolve_source=lambda sid, version: Q(key__in=sources[sid]))
        compiled = set(Endpoint.objects.for_project(project).active().filter(condition).values_list("key", flat=True))

        expected = {e["key"] for e in endpoints if matches(e, definition, NOW, sources)}
        transaction.set_rollback(True)
    assert compiled == expected, definition


@pytest.mark.parametrize(
    ("definition", "reason"),
    [
        ({"Dimensions": {}, "SegmentGroups": {}}, "not both"),
        ({"Dimensions": {"Attributes": {"a": {"AttributeType": "SOMETIMES", "Values": ["x"]}}}}, "AttributeType"),
        ({"Dimensions": {"Attributes": {"a": {"Values": []}}}}, "non-empty list"),
        ({"Dimensions": {"Attributes": {"a": {"AttributeType": "BEFORE", "Values": ["soon"]}}}}, "ISO-8601"),
        ({"Dimensions": {"Attributes": {"a": {"AttributeType": "BETWEEN", "Values": ["2026-01-01"]}}}}, "exactly 2"),
        ({"Dimensions": {"Metrics": {"m": {"ComparisonOperator": "ABOUT", "Value": 1}}}}, "ComparisonOperator"),
        ({"Dimensions": {"Behavior": {"Recency": {"Duration": "DAY_2", "RecencyType": "ACTIVE"}}}}, "Recency"),
        ({"Dimensions": {"Demographic": {"DeviceType": {"Values": ["PHONE"]}}}}, "DeviceType"),
        ({"Dimensions": {"Demographic": {"Channel": {"Values": ["FAX"]}}}}, "unknown channels"),
        ({"Dimensions": {"Location": {"GPSPoint": {"Coordinates": {"Latitude": 95, "Longitude": 0}}}}}, "Latitude"),
        ({"SegmentGroups": {"Groups": [{"Type": "SOME"}]}}, "Combinations"),
        ({"SegmentGroups": {"Groups": [{"SourceSegments": [{"Version": 1}]}]}}, "needs an Id"),
    ],
)
def test_invalid_definitions_are_refused_with_the_reason(definition, reason):
    with pytest.raises(SegmentInvalid, match=reason):
        compile_segment(definition, now=NOW, resolve_source=lambda sid, version: Q())
