import pytest
from django.http import QueryDict

from audience.segment_forms import (
    KINDS,
    BuilderInvalid,
    BuilderUnsupported,
    builder_change,
    builder_from_definition,
    builder_from_form,
    builder_rows,
    definition_from_form,
    form_data,
    form_data_from_definition,
)
from audience.segments import estimate
from tests.factories import ProjectFactory

BASE = {"name": "x", "include": "ALL", "g0-type": "ALL", "g0-source_type": "ANY"}


def posted(**fields: str | list[str]) -> QueryDict:
    """Builder fields as the page posts them: one criterion c0 in group 0, plus `fields`."""
    query = QueryDict(mutable=True)
    for key, value in {**BASE, **{k.replace("__", "-"): v for k, v in fields.items()}}.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return query


def criterion(kind: str, **fields: str | list[str]) -> QueryDict:
    return posted(**{"g0__c0__kind": kind, "g0__c0__dim": "0", **{f"g0__c0__{k}": v for k, v in fields.items()}})


def only_dimensions(definition: dict) -> dict:
    (group,) = definition["SegmentGroups"]["Groups"]
    (dimensions,) = group["Dimensions"]
    return dimensions


# One posted criterion of every kind and operator shape, and the SegmentDimensions it becomes.
CASES = [
    (
        criterion("attribute", name="Plan", operator="INCLUSIVE", values="pro\r\nteam\n"),
        {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro", "team"]}}},
    ),
    (
        criterion("attribute", name="Plan", operator="EXCLUSIVE", values="free"),
        {"Attributes": {"Plan": {"AttributeType": "EXCLUSIVE", "Values": ["free"]}}},
    ),
    (
        criterion("attribute", name="Email", operator="CONTAINS", values="@example.com"),
        {"Attributes": {"Email": {"AttributeType": "CONTAINS", "Values": ["@example.com"]}}},
    ),
    (
        criterion("attribute", name="Signup", operator="BEFORE", values="2026-01-01"),
        {"Attributes": {"Signup": {"AttributeType": "BEFORE", "Values": ["2026-01-01"]}}},
    ),
    (
        criterion("attribute", name="Signup", operator="AFTER", values="2026-01-01T00:00:00Z"),
        {"Attributes": {"Signup": {"AttributeType": "AFTER", "Values": ["2026-01-01T00:00:00Z"]}}},
    ),
    (
        criterion("attribute", name="Signup", operator="ON", values="2026-01-01"),
        {"Attributes": {"Signup": {"AttributeType": "ON", "Values": ["2026-01-01"]}}},
    ),
    (
        criterion("user_attribute", name="Birthday", operator="BETWEEN", values="1990-01-01\n1999-12-31"),
        {"UserAttributes": {"Birthday": {"AttributeType": "BETWEEN", "Values": ["1990-01-01", "1999-12-31"]}}},
    ),
    (
        criterion("metric", name="visits", operator="GREATER_THAN_OR_EQUAL", number="3"),
        {"Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 3}}},
    ),
    (
        criterion("metric", name="spend", operator="LESS_THAN", number="9.5"),
        {"Metrics": {"spend": {"ComparisonOperator": "LESS_THAN", "Value": 9.5}}},
    ),
    (
        criterion("channel", operator="INCLUSIVE", values=["EMAIL", "SMS"]),
        {"Demographic": {"Channel": {"DimensionType": "INCLUSIVE", "Values": ["EMAIL", "SMS"]}}},
    ),
    (
        criterion("platform", operator="EXCLUSIVE", values="android"),
        {"Demographic": {"Platform": {"DimensionType": "EXCLUSIVE", "Values": ["android"]}}},
    ),
    (
        criterion("app_version", operator="INCLUSIVE", values="1.0\n1.1"),
        {"Demographic": {"AppVersion": {"DimensionType": "INCLUSIVE", "Values": ["1.0", "1.1"]}}},
    ),
    (
        criterion("make", operator="INCLUSIVE", values="Apple"),
        {"Demographic": {"Make": {"DimensionType": "INCLUSIVE", "Values": ["Apple"]}}},
    ),
    (
        criterion("model", operator="EXCLUSIVE", values="iPhone"),
        {"Demographic": {"Model": {"DimensionType": "EXCLUSIVE", "Values": ["iPhone"]}}},
    ),
    (
        criterion("country", operator="INCLUSIVE", values="US\nCA"),
        {"Location": {"Country": {"DimensionType": "INCLUSIVE", "Values": ["US", "CA"]}}},
    ),
    (
        criterion("gps", latitude="52.52", longitude="13.405", range_km="25"),
        {"Location": {"GPSPoint": {"Coordinates": {"Latitude": 52.52, "Longitude": 13.405}, "RangeInKilometers": 25}}},
    ),
    (
        criterion("gps", latitude="-33", longitude="151"),
        {"Location": {"GPSPoint": {"Coordinates": {"Latitude": -33, "Longitude": 151}}}},
    ),
    (
        criterion("recency", operator="ACTIVE", duration="HR_24"),
        {"Behavior": {"Recency": {"Duration": "HR_24", "RecencyType": "ACTIVE"}}},
    ),
    (
        criterion("recency", operator="INACTIVE", duration="DAY_30"),
        {"Behavior": {"Recency": {"Duration": "DAY_30", "RecencyType": "INACTIVE"}}},
    ),
]


CASE_IDS = [f"{data['g0-c0-kind']}-{i}" for i, (data, _) in enumerate(CASES)]


def test_every_kind_of_criterion_is_covered():
    assert {data["g0-c0-kind"] for data, _ in CASES} == set(KINDS)


@pytest.mark.parametrize(
    ("data", "dimensions"), CASES, ids=[f"{d['g0-c0-kind']}-{i}" for i, (d, _) in enumerate(CASES)]
)
def test_each_criterion_becomes_its_segment_dimensions(data, dimensions):
    definition = definition_from_form(data)

    assert only_dimensions(definition) == dimensions


@pytest.mark.parametrize(
    ("data", "dimensions"), CASES, ids=[f"{d['g0-c0-kind']}-{i}" for i, (d, _) in enumerate(CASES)]
)
def test_each_criterion_reads_back_into_the_same_form(data, dimensions):
    definition = definition_from_form(data)

    again = definition_from_form(form_data_from_definition(definition))

    assert again == definition


def test_groups_sources_and_combinations_are_written_as_segment_groups():
    data = posted(
        include="ANY",
        g0__type="NONE",
        g0__source_type="ALL",
        g0__sources=["a" * 32, "b" * 32 + "@2"],
        g0__c0__kind="make",
        g0__c0__dim="0",
        g0__c0__operator="INCLUSIVE",
        g0__c0__values="Apple",
        g0__c1__kind="model",
        g0__c1__dim="1",
        g0__c1__operator="INCLUSIVE",
        g0__c1__values="Pixel",
        g1__type="ALL",
        g1__source_type="ANY",
    )

    definition = definition_from_form(data)

    assert definition == {
        "SegmentGroups": {
            "Include": "ANY",
            "Groups": [
                {
                    "Type": "NONE",
                    "SourceType": "ALL",
                    "SourceSegments": [{"Id": "a" * 32}, {"Id": "b" * 32, "Version": 2}],
                    "Dimensions": [
                        {"Demographic": {"Make": {"DimensionType": "INCLUSIVE", "Values": ["Apple"]}}},
                        {"Demographic": {"Model": {"DimensionType": "INCLUSIVE", "Values": ["Pixel"]}}},
                    ],
                },
                {"Type": "ALL", "SourceType": "ANY", "Dimensions": []},
            ],
        }
    }
    assert definition_from_form(form_data_from_definition(definition)) == definition


def test_criteria_sharing_a_dimension_set_are_anded_in_one_object():
    data = posted(
        g0__type="ANY",
        g0__c0__kind="attribute",
        g0__c0__dim="0",
        g0__c0__name="Plan",
        g0__c0__operator="INCLUSIVE",
        g0__c0__values="pro",
        g0__c1__kind="country",
        g0__c1__dim="0",
        g0__c1__operator="INCLUSIVE",
        g0__c1__values="US",
        g0__c2__kind="recency",
        g0__c2__dim="1",
        g0__c2__operator="ACTIVE",
        g0__c2__duration="DAY_7",
    )

    (group,) = definition_from_form(data)["SegmentGroups"]["Groups"]

    assert group["Dimensions"] == [
        {
            "Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}},
            "Location": {"Country": {"DimensionType": "INCLUSIVE", "Values": ["US"]}},
        },
        {"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}}},
    ]
    rows = builder_rows(builder_from_form(data))[0].criteria
    assert [row.joined for row in rows] == [False, True, False]


def test_top_level_dimensions_read_back_as_one_group_of_one_dimension_set():
    dimensions = {
        "Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}},
        "Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN", "Value": 2.0}},
        "Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["SMS"]}},
    }

    definition = definition_from_form(form_data_from_definition({"Dimensions": dimensions}))

    assert definition == {
        "SegmentGroups": {
            "Include": "ALL",
            "Groups": [{"Type": "ALL", "SourceType": "ANY", "Dimensions": [dimensions]}],
        }
    }


def test_pinpoint_defaults_are_read_when_members_are_left_out():
    stored = {
        "SegmentGroups": {
            "Groups": [{"Dimensions": [{"Attributes": {"Plan": {"Values": ["pro"]}}}], "SourceSegments": [{"Id": "s"}]}]
        }
    }

    builder = builder_from_definition(stored)

    assert (builder.include, builder.groups[0].type, builder.groups[0].source_type) == ("ALL", "ALL", "ANY")
    assert builder.groups[0].criteria[0].operator == "INCLUSIVE"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (criterion("attribute", name="", operator="INCLUSIVE", values="pro"), "enter the endpoint attribute name"),
        (criterion("attribute", name="Plan", operator="INCLUSIVE", values="\n \n"), "enter at least one value"),
        (criterion("attribute", name="Plan", operator="BETWEEN", values="2026-01-01"), "takes 2 date(s)"),
        (criterion("attribute", name="Plan", operator="ON", values="2026-01-01\n2026-01-02"), "takes 1 date(s)"),
        (criterion("attribute", name="Plan", operator="LIKE", values="pro"), "choose an operator"),
        (criterion("metric", name="visits", operator="EQUAL", number=""), "enter a number"),
        (criterion("metric", name="visits", operator="EQUAL", number="three"), "must be a number, not “three”"),
        (criterion("metric", name="visits", operator="EQUAL", number="nan"), "must be a finite number"),
        (criterion("channel", operator="INCLUSIVE", values=[]), "choose or enter at least one value"),
        (criterion("gps", latitude="52", longitude=""), "enter a latitude and a longitude"),
        (criterion("gps", latitude="52", longitude="13", range_km="far"), "the range must be a number"),
        (criterion("recency", operator="ACTIVE", duration="DAY_90"), "choose a period"),
        (criterion("teleport"), "unknown kind “teleport”"),
        (posted(g0__type="SOME"), "Group 1's Type must be one of ALL, ANY, NONE"),
        (posted(include="BOTH"), "Include must be one of ALL, ANY, NONE"),
        (posted(g0__sources="abc@x"), "base segment version “x”"),
    ],
)
def test_incomplete_criteria_say_which_and_why(data, message):
    with pytest.raises(BuilderInvalid) as raised:
        definition_from_form(data)

    assert message in str(raised.value)


def test_messages_name_the_group_and_criterion():
    data = posted(g1__type="ALL", g1__c3__kind="metric", g1__c3__name="visits", g1__c3__operator="EQUAL")

    with pytest.raises(BuilderInvalid, match=r"^Group 2, criterion 1 \(Metric\): enter a number\.$"):
        definition_from_form(data)


def test_the_same_attribute_twice_in_one_dimension_set_is_refused():
    data = posted(
        g0__c0__kind="attribute",
        g0__c0__dim="0",
        g0__c0__name="Plan",
        g0__c0__operator="INCLUSIVE",
        g0__c0__values="pro",
        g0__c1__kind="attribute",
        g0__c1__dim="0",
        g0__c1__name="Plan",
        g0__c1__operator="EXCLUSIVE",
        g0__c1__values="free",
    )

    with pytest.raises(BuilderInvalid, match=r"criterion 2 .* repeats Attributes.Plan"):
        definition_from_form(data)


@pytest.mark.parametrize(
    "definition",
    [
        {"Dimensions": {"Demographic": {"DeviceType": {"Values": ["PHONE"]}}}},
        {"Dimensions": {"Attributes": {"Plan": {"Values": ["pro "]}}}},
        {"Dimensions": {"Attributes": {"Plan": {"Values": ["two\nlines"]}}}},
        {"SegmentGroups": {"Groups": [{"Type": "ANY", "Dimensions": [{}]}]}},
    ],
)
def test_definitions_the_builder_cannot_show_as_they_are_are_refused(definition):
    with pytest.raises(BuilderUnsupported):
        builder_from_definition(definition)


def test_an_empty_dimension_set_under_all_reads_as_no_criteria():
    builder = builder_from_definition({"SegmentGroups": {"Groups": [{"Type": "ALL", "Dimensions": [{}]}]}})

    assert builder.groups[0].criteria == []


def test_form_data_is_what_the_page_posts():
    builder = builder_from_definition(
        {"Dimensions": {"Demographic": {"Channel": {"DimensionType": "INCLUSIVE", "Values": ["EMAIL", "SMS"]}}}}
    )

    data = form_data(builder)

    assert data["g0-c0-values"] == ["EMAIL", "SMS"]  # one checkbox value each
    assert builder_from_form(data) == builder


def test_adding_a_criterion_uses_the_chosen_kind_its_first_operator_and_a_new_dimension_set():
    data = posted(g0__c0__kind="make", g0__c0__dim="4", g0__add_kind="recency", op="add-criterion:0")

    builder = builder_change(data)

    added = builder.groups[0].criteria[-1]
    assert (added.kind, added.operator, added.duration, added.dim, added.added) == (
        "recency",
        "ACTIVE",
        "DAY_30",
        "5",
        True,
    )


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("remove-criterion:0:0", [["model"], []]),
        ("remove-criterion:0:7", [["make", "model"], []]),
        ("remove-group:1", [["make", "model"]]),
        ("add-group", [["make", "model"], []]),  # at most two groups
        ("add-criterion:0", [["make", "model"], []]),  # no kind chosen
        ("add-criterion:x", [["make", "model"], []]),
        ("explode", [["make", "model"], []]),
    ],
)
def test_structural_changes(operation, expected):
    data = posted(
        g0__c0__kind="make",
        g0__c1__kind="model",
        g1__type="ALL",
        op=operation,
    )

    builder = builder_change(data)

    assert [[c.kind for c in group.criteria] for group in builder.groups] == expected


def test_the_last_group_cannot_be_removed_and_a_second_can_be_added():
    one = builder_change(posted(op="remove-group:0"))
    two = builder_change(posted(op="add-group"))

    assert len(one.groups) == 1
    assert len(two.groups) == 2


def test_field_names_follow_positions_after_a_removal():
    data = posted(g0__c0__kind="make", g0__c1__kind="model", g0__c2__kind="country", op="remove-criterion:0:1")

    rows = builder_rows(builder_change(data))

    assert [(row.prefix, row.criterion.kind) for row in rows[0].criteria] == [
        ("g0-c0-", "make"),
        ("g0-c1-", "country"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "dimensions"), CASES, ids=CASE_IDS)
def test_every_definition_the_builder_writes_is_one_the_compiler_takes(data, dimensions):
    project = ProjectFactory()

    size = estimate(project, definition_from_form(data))

    assert size.total == 0
