import pytest
from django.urls import reverse

from projects.models import ApplicationSettings, Role
from tests.factories import MembershipFactory

VALID = {
    "quiet_time_start": "22:00",
    "quiet_time_end": "07:00",
    "limits_daily": "3",
    "limits_maximum_duration": "600",
    "limits_messages_per_second": "50",
    "limits_total": "10",
    "limits_session": "",
    "journey_daily_cap": "2",
    "journey_timeframe_cap": "5",
    "journey_timeframe_days": "7",
    "journey_total_cap": "",
    "hook_lambda_function_name": "segment-filter",
    "hook_web_url": "https://hooks.example.com/filter",
    "hook_mode": "FILTER",
}


def member(project, role):
    return MembershipFactory(project=project, role=role).user


def stored(project) -> ApplicationSettings:
    return ApplicationSettings.objects.get(project=project)


def test_settings_update_persists(client, user, project):
    client.force_login(user)

    response = client.post(reverse("project_settings"), VALID)

    current = stored(project)
    assert response.status_code == 302
    assert (current.quiet_time_start, current.quiet_time_end) == ("22:00", "07:00")
    assert (current.limits_daily, current.limits_maximum_duration, current.limits_messages_per_second) == (3, 600, 50)
    assert (current.limits_total, current.limits_session) == (10, None)
    assert (current.journey_daily_cap, current.journey_total_cap) == (2, None)
    assert (current.journey_timeframe_cap, current.journey_timeframe_days) == (5, 7)
    assert current.hook_lambda_function_name == "segment-filter"
    assert current.hook_web_url == "https://hooks.example.com/filter"
    assert current.hook_mode == "FILTER"


def test_saved_settings_are_shown_in_the_form(client, user, project):
    client.force_login(user)
    client.post(reverse("project_settings"), VALID)

    html = client.get(reverse("project_settings")).content.decode()

    assert 'name="quiet_time_start" value="22:00"' in html
    assert 'name="limits_daily" value="3"' in html
    assert "Settings saved." in html


def test_blank_fields_unset_the_stored_value(client, user, project):
    client.force_login(user)
    client.post(reverse("project_settings"), VALID)

    client.post(
        reverse("project_settings"), {**VALID, "limits_daily": "", "quiet_time_start": "", "quiet_time_end": ""}
    )

    current = stored(project)
    assert current.limits_daily is None
    assert (current.quiet_time_start, current.quiet_time_end) == ("", "")
    assert current.limits_total == 10


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quiet_time_start", "25:00", "Use 24-hour HH:MM"),
        ("limits_daily", "101", "less than or equal to 100"),
        ("limits_maximum_duration", "59", "greater than or equal to 60"),
        ("journey_timeframe_days", "31", "less than or equal to 30"),
        ("hook_web_url", "not a url", "Enter a valid URL"),
        ("limits_session", str(2**31), "less than or equal to 2147483647"),
    ],
)
def test_invalid_settings_show_an_error_and_change_nothing(client, user, project, field, value, message):
    client.force_login(user)
    before = stored(project).last_modified_date

    response = client.post(reverse("project_settings"), {**VALID, field: value})

    html = response.content.decode()
    assert response.status_code == 200
    assert message in html
    assert f'id="id_{field}_error"' in html
    assert "Nothing was saved" in html
    assert stored(project).last_modified_date == before
    assert stored(project).limits_daily is None


def test_quiet_time_needs_both_ends(client, user, project):
    client.force_login(user)

    response = client.post(reverse("project_settings"), {**VALID, "quiet_time_end": ""})

    assert "Set both Start and End, or neither." in response.content.decode()
    assert stored(project).quiet_time_start == ""


def test_editor_can_change_settings(client, project):
    editor = member(project, Role.EDITOR)
    client.force_login(editor)

    response = client.post(reverse("project_settings"), VALID)

    assert response.status_code == 302
    assert stored(project).limits_daily == 3


def test_viewer_sees_settings_without_forms(client, project):
    viewer = member(project, Role.VIEWER)
    client.force_login(viewer)

    html = client.get(reverse("project_settings")).content.decode()

    assert "you can see its settings but not change them" in html
    assert f'action="{reverse("project_settings")}"' not in html
    assert f'action="{reverse("project_rename")}"' not in html
    assert f'action="{reverse("member_add")}"' not in html
    assert 'name="role"' not in html
    assert reverse("project_delete") not in html


@pytest.mark.parametrize("name", ["project_settings", "project_rename"])
def test_viewer_cannot_post_settings(client, project, name):
    viewer = member(project, Role.VIEWER)
    client.force_login(viewer)

    response = client.post(reverse(name), {**VALID, "name": "Taken over"})

    project.refresh_from_db()
    assert response.status_code == 403
    assert stored(project).limits_daily is None
    assert project.name != "Taken over"


def test_a_refused_post_explains_itself(client, project):
    viewer = member(project, Role.VIEWER)
    client.force_login(viewer)

    response = client.post(reverse("project_settings"), VALID)

    assert "Your role in this project does not allow changes." in response.content.decode()


def test_rename_persists(client, user, project):
    client.force_login(user)

    response = client.post(reverse("project_rename"), {"name": "Spring sale"})

    project.refresh_from_db()
    assert response.status_code == 302
    assert project.name == "Spring sale"


def test_rename_to_blank_is_refused(client, user, project):
    client.force_login(user)
    name = project.name

    response = client.post(reverse("project_rename"), {"name": "  "})

    project.refresh_from_db()
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert project.name == name


def test_settings_page_query_count_is_bounded(client, user, project, django_assert_max_num_queries):
    for role in (Role.OWNER, Role.EDITOR, Role.VIEWER, Role.VIEWER, Role.VIEWER):
        member(project, role)
    client.force_login(user)
    client.get(reverse("dashboard"))  # the first page remembers the current project in the session

    with django_assert_max_num_queries(8):
        response = client.get(reverse("project_settings"))

    assert response.status_code == 200
