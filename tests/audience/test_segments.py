from datetime import UTC, datetime, timedelta

import pytest

from audience.compiler import SegmentInvalid
from audience.models import SegmentMember, SegmentType
from audience.segments import estimate, sample_members, segment_create, segment_members, segment_update
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def project():
    return ProjectFactory()


def add(project, endpoint_id, body):
    endpoints_write(project, [parse_endpoint(endpoint_id, body)], now=NOW - timedelta(days=2))


def keys(queryset):
    return sorted(queryset.values_list("key", flat=True))


def test_members_follow_the_definition(project):
    add(project, "a", {"ChannelType": "EMAIL", "Address": "a@x.io", "Attributes": {"Plan": ["pro"]}})
    add(project, "b", {"ChannelType": "EMAIL", "Address": "b@x.io", "Attributes": {"Plan": ["free"]}})
    segment = segment_create(
        project, name="pro", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    )

    assert keys(segment_members(project, segment)) == ["a"]


def test_inactive_endpoints_are_not_members(project):
    add(project, "old", {"ChannelType": "EMAIL", "Address": "same@x.io"})
    add(project, "new", {"ChannelType": "EMAIL", "Address": "same@x.io"})
    segment = segment_create(project, name="all", dimensions={})

    assert keys(segment_members(project, segment)) == ["new"]


def test_a_pinned_source_version_keeps_its_old_definition(project):
    add(project, "a", {"Attributes": {"Plan": ["pro"]}})
    add(project, "b", {"Attributes": {"Plan": ["free"]}})
    base = segment_create(
        project, name="base", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    )
    segment_update(base, dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["free"]}}})
    pinned = segment_create(
        project, name="pinned", groups={"Groups": [{"SourceSegments": [{"Id": base.pk, "Version": 1}]}]}
    )
    latest = segment_create(project, name="latest", groups={"Groups": [{"SourceSegments": [{"Id": base.pk}]}]})

    assert keys(segment_members(project, pinned)) == ["a"]
    assert keys(segment_members(project, latest)) == ["b"]


def test_imported_segments_are_sources_by_their_members(project):
    add(project, "a", {"Address": "a"})
    add(project, "b", {"Address": "b"})
    imported = project.segments.create(name="imported", segment_type=SegmentType.IMPORT)
    SegmentMember.objects.create(segment=imported, endpoint_key="b")

    combined = segment_create(project, name="c", groups={"Groups": [{"SourceSegments": [{"Id": imported.pk}]}]})

    assert keys(segment_members(project, combined)) == ["b"]
    assert keys(segment_members(project, imported)) == ["b"]


def test_estimate_counts_members_opted_out_and_reachable_per_channel(project):
    add(project, "a", {"ChannelType": "EMAIL", "Address": "a@x.io"})
    add(project, "b", {"ChannelType": "SMS", "Address": "+1555"})
    add(project, "c", {"ChannelType": "EMAIL", "Address": "c@x.io", "OptOut": "ALL"})

    size = estimate(project, {"Dimensions": {}})

    assert (size.total, size.opted_out, size.reachable) == (3, 1, 2)
    assert size.reachable_by_channel == {"EMAIL": 1, "SMS": 1}


def test_an_unknown_pinned_version_is_refused(project):
    base = segment_create(project, name="base", dimensions={})

    with pytest.raises(SegmentInvalid, match="no version 7"):
        segment_create(project, name="x", groups={"Groups": [{"SourceSegments": [{"Id": base.pk, "Version": 7}]}]})


def test_imported_segments_can_only_be_renamed(project):
    imported = project.segments.create(name="imported", segment_type=SegmentType.IMPORT)

    with pytest.raises(SegmentInvalid, match="only its Name"):
        segment_update(imported, dimensions={})
    renamed = segment_update(imported, name="renamed")

    assert (renamed.name, renamed.version) == ("renamed", 2)


def test_a_quick_estimate_is_exact(project):
    add(project, "a", {"ChannelType": "EMAIL", "Address": "a@x.io"})

    size = estimate(project, {"Dimensions": {}})

    assert (size.exact, size.sample_percent, size.total) == (True, 100.0, 1)


def test_members_without_an_address_are_not_reachable(project):
    add(project, "a", {"ChannelType": "EMAIL", "Address": "a@x.io"})
    add(project, "b", {"ChannelType": "EMAIL"})

    size = estimate(project, {"Dimensions": {}})

    assert (size.total, size.reachable) == (2, 1)


def test_a_sample_lists_members_by_key(project):
    for key in ("c", "a", "b"):
        add(project, key, {"ChannelType": "EMAIL", "Address": f"{key}@x.io"})

    sample = sample_members(project, {"Dimensions": {}}, limit=2)

    assert len(sample) == 2
    assert [e.key for e in sample] == sorted(e.key for e in sample)
