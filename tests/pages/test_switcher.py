import pytest
from django.urls import reverse

from projects.middleware import SESSION_KEY
from projects.models import Role
from tests.factories import MembershipFactory, ProjectFactory


@pytest.fixture
def second(user):
    return MembershipFactory(user=user, role=Role.VIEWER, project__name="Second").project


def test_switcher_lists_only_the_users_projects(client, user, project, second):
    foreign = ProjectFactory(name="Somebody else's")
    client.force_login(user)

    html = client.get(reverse("dashboard")).content.decode()

    assert f'<option value="{project.pk}" selected>' in html
    assert f'<option value="{second.pk}">' in html
    assert foreign.pk not in html


def test_switching_stores_the_project_and_returns_to_the_page(client, user, project, second):
    client.force_login(user)

    response = client.post(reverse("project_switch"), {"project": second.pk, "next": reverse("audience:segments")})

    assert response.status_code == 302
    assert response["Location"] == reverse("audience:segments")
    assert client.session[SESSION_KEY] == second.pk
    assert "<h1>Second</h1>" in client.get(reverse("dashboard")).content.decode()


def test_switching_to_a_foreign_project_is_refused(client, user, project):
    foreign = ProjectFactory()
    client.force_login(user)
    client.get(reverse("dashboard"))

    response = client.post(reverse("project_switch"), {"project": foreign.pk}, follow=True)

    assert client.session[SESSION_KEY] == project.pk
    assert "not a member" in response.content.decode()
    assert foreign.name not in response.content.decode()


def test_switching_ignores_an_offsite_next_url(client, user, project, second):
    client.force_login(user)

    response = client.post(reverse("project_switch"), {"project": second.pk, "next": "https://evil.example/"})

    assert response["Location"] == reverse("dashboard")


def test_a_foreign_project_id_in_the_session_is_ignored(client, user, project):
    foreign = ProjectFactory(name="Not yours")
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = foreign.pk
    session.save()

    html = client.get(reverse("project_settings")).content.decode()

    assert foreign.pk not in html
    assert project.pk in html
    assert client.session[SESSION_KEY] == project.pk


def test_a_project_the_user_left_is_no_longer_current(client, user, project, second):
    client.force_login(user)
    client.post(reverse("project_switch"), {"project": second.pk})
    second.memberships.filter(user=user).delete()

    html = client.get(reverse("dashboard")).content.decode()

    assert f"<h1>{project.name}</h1>" in html
