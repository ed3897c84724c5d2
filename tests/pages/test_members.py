from django.urls import reverse

from projects.models import Membership, Role
from tests.factories import MembershipFactory, UserFactory


def test_owner_adds_a_member_by_username(client, user, project):
    UserFactory(username="bob")
    client.force_login(user)

    response = client.post(reverse("member_add"), {"username": "bob", "role": Role.EDITOR})

    assert response.status_code == 302
    assert Membership.objects.get(project=project, user__username="bob").role == Role.EDITOR


def test_adding_an_unknown_user_shows_an_error(client, user, project):
    client.force_login(user)

    response = client.post(reverse("member_add"), {"username": "nobody", "role": Role.VIEWER})

    assert response.status_code == 200
    assert "There is no active user called “nobody”." in response.content.decode()
    assert project.memberships.count() == 1


def test_adding_an_existing_member_shows_an_error(client, user, project):
    client.force_login(user)

    response = client.post(reverse("member_add"), {"username": user.username, "role": Role.VIEWER})

    assert "is already a member" in response.content.decode()
    assert project.memberships.get(user=user).role == Role.OWNER


def test_owner_changes_a_role(client, user, project):
    bob = MembershipFactory(project=project, role=Role.VIEWER)
    client.force_login(user)

    client.post(reverse("member_role", args=[bob.pk]), {"role": Role.EDITOR})

    bob.refresh_from_db()
    assert bob.role == Role.EDITOR


def test_owner_removes_a_member(client, user, project):
    bob = MembershipFactory(project=project, role=Role.EDITOR)
    client.force_login(user)

    response = client.post(reverse("member_remove", args=[bob.pk]), follow=True)

    assert not Membership.objects.filter(pk=bob.pk).exists()
    assert f"{bob.user.username} was removed" in response.content.decode()


def test_removing_the_last_owner_is_refused_with_a_message(client, user, project):
    own = project.memberships.get(user=user)
    client.force_login(user)

    response = client.post(reverse("member_remove", args=[own.pk]), follow=True)

    assert Membership.objects.filter(pk=own.pk).exists()
    assert "A project needs at least one owner." in response.content.decode()


def test_demoting_the_last_owner_is_refused_with_a_message(client, user, project):
    own = project.memberships.get(user=user)
    client.force_login(user)

    response = client.post(reverse("member_role", args=[own.pk]), {"role": Role.VIEWER}, follow=True)

    own.refresh_from_db()
    assert own.role == Role.OWNER
    assert "A project needs at least one owner." in response.content.decode()


def test_an_owner_leaving_goes_back_to_the_dashboard(client, user, project):
    MembershipFactory(project=project, role=Role.OWNER)
    own = project.memberships.get(user=user)
    client.force_login(user)

    response = client.post(reverse("member_remove", args=[own.pk]))

    assert response["Location"] == reverse("dashboard")
    assert not project.memberships.filter(user=user).exists()


def test_editor_cannot_manage_members(client, project):
    editor = MembershipFactory(project=project, role=Role.EDITOR).user
    viewer = MembershipFactory(project=project, role=Role.VIEWER)
    UserFactory(username="carol")
    client.force_login(editor)

    html = client.get(reverse("project_settings")).content.decode()
    add = client.post(reverse("member_add"), {"username": "carol", "role": Role.OWNER})
    change = client.post(reverse("member_role", args=[viewer.pk]), {"role": Role.OWNER})
    remove = client.post(reverse("member_remove", args=[viewer.pk]))

    viewer.refresh_from_db()
    assert f'action="{reverse("member_add")}"' not in html
    assert (add.status_code, change.status_code, remove.status_code) == (403, 403, 403)
    assert viewer.role == Role.VIEWER
    assert not project.memberships.filter(user__username="carol").exists()


def test_a_membership_of_another_project_cannot_be_touched(client, user, project):
    elsewhere = MembershipFactory(role=Role.EDITOR)
    client.force_login(user)

    response = client.post(reverse("member_remove", args=[elsewhere.pk]))

    assert response.status_code == 404
    assert Membership.objects.filter(pk=elsewhere.pk).exists()
