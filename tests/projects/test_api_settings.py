import pytest

from projects.models import ApplicationSettings, Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_fresh_project_settings_carry_only_the_application_id(pinpoint, project):
    resource = pinpoint.get_application_settings(ApplicationId=project.id)["ApplicationSettingsResource"]

    assert resource["ApplicationId"] == project.id
    assert set(resource) <= {"ApplicationId", "LastModifiedDate"}


def test_update_settings_stores_and_returns_every_group(pinpoint, project):
    write = {
        "CampaignHook": {"LambdaFunctionName": "filter-fn", "Mode": "FILTER", "WebUrl": "https://hooks.example.com/x"},
        "Limits": {"Daily": 5, "MaximumDuration": 600, "MessagesPerSecond": 50, "Total": 20, "Session": 2},
        "QuietTime": {"Start": "22:00", "End": "07:30"},
        "JourneyLimits": {"DailyCap": 3, "TimeframeCap": {"Cap": 10, "Days": 7}, "TotalCap": 30},
        "CloudWatchMetricsEnabled": True,
    }

    updated = pinpoint.update_application_settings(ApplicationId=project.id, WriteApplicationSettingsRequest=write)
    fetched = pinpoint.get_application_settings(ApplicationId=project.id)["ApplicationSettingsResource"]

    resource = updated["ApplicationSettingsResource"]
    for group in ("CampaignHook", "Limits", "QuietTime", "JourneyLimits"):
        assert resource[group] == write[group]
    assert fetched == resource
    assert ApplicationSettings.objects.get(project=project).cloudwatch_metrics_enabled is True


def test_a_group_sent_replaces_the_stored_group_and_others_are_kept(pinpoint, project):
    pinpoint.update_application_settings(
        ApplicationId=project.id,
        WriteApplicationSettingsRequest={
            "Limits": {"Daily": 5, "Total": 20},
            "QuietTime": {"Start": "22:00", "End": "07:00"},
        },
    )

    updated = pinpoint.update_application_settings(
        ApplicationId=project.id, WriteApplicationSettingsRequest={"Limits": {"Daily": 7}}
    )["ApplicationSettingsResource"]

    assert updated["Limits"] == {"Daily": 7}
    assert updated["QuietTime"] == {"Start": "22:00", "End": "07:00"}


@pytest.mark.parametrize(
    "write",
    [
        {"Limits": {"Daily": 101}},
        {"Limits": {"MessagesPerSecond": 0}},
        {"Limits": {"MaximumDuration": 59}},
        {"Limits": {"Session": 2**40}},
        {"Limits": {"MaximumDuration": 2**31}},
        {"QuietTime": {"Start": "25:00", "End": "07:00"}},
        {"QuietTime": {"Start": "22:00"}},
        {"JourneyLimits": {"TimeframeCap": {"Cap": 5, "Days": 31}}},
        {"CampaignHook": {"Mode": "SOMETIMES"}},
    ],
)
def test_invalid_settings_are_a_bad_request_and_change_nothing(pinpoint, project, write):
    before = ApplicationSettings.objects.get(project=project).last_modified_date

    with pytest.raises(pinpoint.exceptions.BadRequestException):
        pinpoint.update_application_settings(ApplicationId=project.id, WriteApplicationSettingsRequest=write)

    assert ApplicationSettings.objects.get(project=project).last_modified_date == before


def test_viewer_reads_but_cannot_write_settings(pinpoint_for):
    viewer = UserFactory(username="viewer")
    project = MembershipFactory(user=viewer, role=Role.VIEWER).project
    client = pinpoint_for(viewer)

    client.get_application_settings(ApplicationId=project.id)
    with pytest.raises(client.exceptions.ForbiddenException):
        client.update_application_settings(
            ApplicationId=project.id, WriteApplicationSettingsRequest={"Limits": {"Daily": 1}}
        )

    assert ApplicationSettings.objects.get(project=project).limits_daily is None


def test_editor_can_write_settings(pinpoint_for):
    editor = UserFactory(username="editor")
    project = MembershipFactory(user=editor, role=Role.EDITOR).project

    pinpoint_for(editor).update_application_settings(
        ApplicationId=project.id, WriteApplicationSettingsRequest={"Limits": {"Daily": 1}}
    )

    assert ApplicationSettings.objects.get(project=project).limits_daily == 1


def test_another_tenants_settings_are_not_found(pinpoint):
    foreign = MembershipFactory(user=UserFactory(username="mallory")).project

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_application_settings(ApplicationId=foreign.id)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.update_application_settings(
            ApplicationId=foreign.id, WriteApplicationSettingsRequest={"Limits": {"Daily": 1}}
        )
