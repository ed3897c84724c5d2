import re

import pytest
from django.urls import reverse

from projects.models import Membership, Project, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

NAV = re.compile(r'<nav class="sidenav" aria-label="Main">(.*?)</nav>', re.S)


def test_every_navigation_link_opens_a_page_for_a_member(client, user, project):
    client.force_login(user)
    dashboard = client.get(reverse("dashboard")).content.decode()
    links = re.findall(r'href="([^"]+)"', NAV.search(dashboard).group(1))

    statuses = {link: client.get(link).status_code for link in links}

    assert len(links) == 8
    assert statuses == dict.fromkeys(links, 200)


def test_current_section_is_marked_in_the_navigation(client, user, project):
    client.force_login(user)

    response = client.get(reverse("audience:segments"))

    nav = NAV.search(response.content.decode()).group(1)
    assert f'<a href="{reverse("audience:segments")}" aria-current="page">Segments</a>' in nav
    assert nav.count("aria-current") == 1


def test_dashboard_shows_the_project_facts(client, user):
    project = ProjectFactory(name="Shop", tags={"team": "growth"})
    MembershipFactory(project=project, user=user, role=Role.OWNER)
    MembershipFactory(project=project, role=Role.VIEWER)
    client.force_login(user)

    html = client.get(reverse("dashboard")).content.decode()

    assert project.id in html
    assert project.arn in html
    assert "<code>team</code> = <code>growth</code>" in html
    assert "2 — you are owner" in html


@pytest.mark.parametrize(
    "name",
    ["audience:endpoints", "audience:segments", "campaigns:campaigns", "campaigns:templates", "journeys:journeys"],
)
def test_feature_pages_show_snippets_for_the_current_project(client, user, project, name):
    client.force_login(user)

    html = client.get(reverse(name)).content.decode()

    assert f'ApplicationId="{project.id}"' in html or name == "campaigns:templates"
    assert 'endpoint_url="http://testserver/"' in html
    built = (
        "audience:endpoints",
        "audience:segments",
        "campaigns:campaigns",
        "campaigns:templates",
        "journeys:journeys",
    )
    assert ("fake success" in html) == (name not in built)  # the not-built note only where it is true


@pytest.mark.django_db
def test_a_user_without_projects_is_offered_to_create_one(client):
    client.force_login(UserFactory())

    response = client.get(reverse("audience:endpoints"))

    assert response.status_code == 200
    assert "You are not in a project yet" in response.content.decode()
    assert f'action="{reverse("project_new")}"' in response.content.decode()


@pytest.mark.django_db
def test_creating_a_project_makes_the_user_owner_and_selects_it(client):
    newcomer = UserFactory()
    client.force_login(newcomer)

    response = client.post(reverse("project_new"), {"name": "  Newsletter  "})

    project = Project.objects.get()
    assert response.status_code == 302
    assert project.name == "Newsletter"
    assert Membership.objects.get(project=project).user == newcomer
    assert Membership.objects.get(project=project).role == Role.OWNER
    assert "Newsletter" in client.get(reverse("dashboard")).content.decode()


@pytest.mark.django_db
def test_a_blank_project_name_is_refused(client):
    client.force_login(UserFactory())

    response = client.post(reverse("project_new"), {"name": "   "})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Project.objects.exists()


@pytest.mark.django_db
def test_posting_to_a_project_page_without_a_project_is_not_found(client):
    client.force_login(UserFactory())

    response = client.post(reverse("project_settings"), {})

    assert response.status_code == 404
