import pytest
from django.urls import reverse

from projects.models import Project, Role
from tests.factories import MembershipFactory


def test_owner_deletes_the_project_after_typing_its_name(client, user, project):
    client.force_login(user)

    confirm = client.get(reverse("project_delete"))
    response = client.post(reverse("project_delete"), {"confirm": project.name}, follow=True)

    assert confirm.status_code == 200
    assert not Project.objects.filter(pk=project.pk).exists()
    assert "You are not in a project yet" in response.content.decode()


def test_a_wrong_confirmation_deletes_nothing(client, user, project):
    client.force_login(user)

    response = client.post(reverse("project_delete"), {"confirm": "something else"})

    assert response.status_code == 200
    assert "does not match the project name" in response.content.decode()
    assert Project.objects.filter(pk=project.pk).exists()


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_only_owners_may_delete(client, project, role):
    someone = MembershipFactory(project=project, role=role).user
    client.force_login(someone)

    page = client.get(reverse("project_delete"))
    response = client.post(reverse("project_delete"), {"confirm": project.name})

    assert (page.status_code, response.status_code) == (403, 403)
    assert Project.objects.filter(pk=project.pk).exists()
