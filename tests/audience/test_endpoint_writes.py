import pytest

from audience.models import AttributeDefinition, AttributeKind, AudienceUser, Endpoint, EndpointStatus
from audience.services import attributes_remove, endpoints_write
from audience.validation import EndpointInvalid, parse_endpoint
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory()


def write(project, endpoint_id, body, **kwargs):
    return endpoints_write(project, [parse_endpoint(endpoint_id, body)], **kwargs)


def test_new_endpoint_gets_defaults_active_and_a_cohort(project):
    write(project, "E1", {"ChannelType": "EMAIL", "Address": "a@example.com"})

    endpoint = Endpoint.objects.get(project=project, key="e1")
    assert endpoint.endpoint_id == "E1"
    assert endpoint.status == EndpointStatus.ACTIVE
    assert endpoint.opt_out == "NONE"
    assert 0 <= endpoint.cohort_id <= 99
    assert endpoint.effective_date == endpoint.creation_date


def test_sent_attribute_keys_replace_their_values_and_others_are_kept(project):
    write(project, "e1", {"Attributes": {"Interests": ["a", "b"], "Plan": ["pro"]}, "Metrics": {"visits": 3}})

    write(project, "e1", {"Attributes": {"Interests": ["c"]}, "Metrics": {"spend": 9.5}})

    endpoint = Endpoint.objects.get(project=project, key="e1")
    assert endpoint.attributes == {"Interests": ["c"], "Plan": ["pro"]}
    assert endpoint.metrics == {"visits": 3.0, "spend": 9.5}


def test_fields_not_sent_are_kept(project):
    write(project, "e1", {"ChannelType": "SMS", "Address": "+15550100", "Demographic": {"Timezone": "Europe/Paris"}})

    write(project, "e1", {"Location": {"Country": "FR"}})

    endpoint = Endpoint.objects.get(project=project, key="e1")
    assert (endpoint.channel_type, endpoint.address, endpoint.timezone, endpoint.country) == (
        "SMS",
        "+15550100",
        "Europe/Paris",
        "FR",
    )


def test_endpoint_ids_are_case_insensitive(project):
    write(project, "Device-A", {"Address": "x"})

    write(project, "DEVICE-a", {"Address": "y"})

    assert Endpoint.objects.filter(project=project).count() == 1
    assert Endpoint.objects.get(project=project).address == "y"


def test_writing_an_address_deactivates_other_endpoints_with_it(project):
    write(project, "old", {"ChannelType": "EMAIL", "Address": "a@example.com"})

    write(project, "new", {"ChannelType": "EMAIL", "Address": "a@example.com"})

    assert Endpoint.objects.get(key="old").status == EndpointStatus.INACTIVE
    assert Endpoint.objects.get(key="new").status == EndpointStatus.ACTIVE


def test_updating_an_inactive_endpoint_makes_it_active_again(project):
    write(project, "old", {"Address": "a@example.com"})
    write(project, "new", {"Address": "a@example.com"})

    write(project, "old", {"Attributes": {"x": ["1"]}})

    assert Endpoint.objects.get(key="old").status == EndpointStatus.ACTIVE
    assert Endpoint.objects.get(key="new").status == EndpointStatus.INACTIVE


def test_user_attributes_are_shared_by_every_endpoint_of_the_user(project):
    write(project, "phone", {"User": {"UserId": "u1", "UserAttributes": {"FirstName": ["Ada"]}}})
    write(project, "laptop", {"User": {"UserId": "u1"}})

    write(project, "laptop", {"User": {"UserAttributes": {"Plan": ["gold"]}}})

    assert AudienceUser.objects.get(project=project, user_id="u1").attributes == {
        "FirstName": ["Ada"],
        "Plan": ["gold"],
    }


def test_user_attributes_without_a_user_id_are_refused(project):
    with pytest.raises(EndpointInvalid, match="UserId"):
        write(project, "e1", {"User": {"UserAttributes": {"Plan": ["gold"]}}})

    assert not Endpoint.objects.exists()


def test_sixteenth_non_push_endpoint_of_a_user_is_refused(project):
    for i in range(15):
        write(project, f"e{i}", {"ChannelType": "EMAIL", "Address": f"{i}@x.io", "User": {"UserId": "u1"}})

    with pytest.raises(EndpointInvalid, match="already has 15 endpoints"):
        write(project, "e15", {"ChannelType": "EMAIL", "Address": "15@x.io", "User": {"UserId": "u1"}})

    assert Endpoint.objects.filter(user_id="u1").count() == 15


def test_sixteenth_push_endpoint_displaces_the_oldest_push_endpoint(project):
    write(project, "push-old", {"ChannelType": "GCM", "Address": "t0", "User": {"UserId": "u1"}})
    for i in range(14):
        write(project, f"e{i}", {"ChannelType": "EMAIL", "Address": f"{i}@x.io", "User": {"UserId": "u1"}})

    write(project, "push-new", {"ChannelType": "APNS", "Address": "t1", "User": {"UserId": "u1"}})

    old = Endpoint.objects.get(key="push-old")
    assert (old.status, old.user_id) == (EndpointStatus.INACTIVE, "")
    assert Endpoint.objects.filter(user_id="u1").count() == 15


def test_non_strict_writes_keep_good_rows_and_report_bad_ones(project):
    for i in range(15):
        write(project, f"e{i}", {"User": {"UserId": "u1"}})
    writes = [
        parse_endpoint("good", {"Address": "g"}),
        parse_endpoint("bad", {"User": {"UserId": "u1"}}),
    ]

    outcome = endpoints_write(project, writes, strict=False)

    assert outcome.written == 1
    assert list(outcome.rejected) == [1]
    assert Endpoint.objects.filter(key="good").exists()
    assert not Endpoint.objects.filter(key="bad").exists()


def test_a_project_holds_at_most_250_attribute_names(project):
    write(
        project, "e1", {"Attributes": {f"a{i}": ["x"] for i in range(200)}, "Metrics": {f"m{i}": 1 for i in range(50)}}
    )

    with pytest.raises(EndpointInvalid, match="at most 250 attributes"):
        write(project, "e2", {"User": {"UserId": "u", "UserAttributes": {"new": ["x"]}}})

    assert AttributeDefinition.objects.filter(project=project).count() == 250


def test_removed_attributes_are_no_longer_captured_and_free_the_budget(project):
    write(project, "e1", {"Attributes": {"Old": ["1"], "Keep": ["1"]}})

    removed = attributes_remove(project, kind=AttributeKind.CUSTOM, patterns=["Ol*"])
    write(project, "e1", {"Attributes": {"Old": ["2"], "Keep": ["2"]}})

    assert removed == ["Old"]
    assert Endpoint.objects.get(key="e1").attributes == {"Old": ["1"], "Keep": ["2"]}


def test_repeated_writes_of_one_endpoint_in_a_batch_merge_in_order(project):
    writes = [parse_endpoint("e1", {"Attributes": {"a": ["1"]}}), parse_endpoint("E1", {"Attributes": {"b": ["2"]}})]

    endpoints_write(project, writes)

    assert Endpoint.objects.get(key="e1").attributes == {"a": ["1"], "b": ["2"]}


def test_another_projects_endpoint_with_the_same_id_is_untouched(project):
    other = ProjectFactory()
    write(other, "e1", {"Address": "other"})

    write(project, "e1", {"Address": "mine"})

    assert Endpoint.objects.get(project=other).address == "other"


@pytest.mark.parametrize(("endpoint_id", "body"), [("a\x00b", {}), ("e1", {"Attributes": {"x": ["a\x00"]}})])
def test_nul_characters_are_refused(project, endpoint_id, body):
    with pytest.raises(EndpointInvalid, match="NUL"):
        write(project, endpoint_id, body)
