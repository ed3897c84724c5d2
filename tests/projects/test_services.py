from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from engage import crypto
from projects.models import AccessKey, Membership, Role
from projects.services import (
    access_key_create,
    access_key_mark_used,
    access_key_revoke,
    membership_remove,
    membership_set,
    project_create,
    tags_validate,
)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_access_key_secret_is_stored_encrypted_and_shown_once():
    user = UserFactory()

    issued = access_key_create(user, description="ci")

    stored = AccessKey.objects.get(pk=issued.key.pk)
    assert len(issued.key.access_key_id) == 20
    assert len(issued.secret) == 40
    assert issued.secret not in stored.secret_encrypted
    assert crypto.decrypt(stored.secret_encrypted) == issued.secret


def test_revoking_twice_keeps_the_first_time():
    key = access_key_create(UserFactory()).key
    first = access_key_revoke(key).revoked_at

    second = access_key_revoke(key).revoked_at

    assert first is not None
    assert second == first
    assert not AccessKey.objects.active().filter(pk=key.pk).exists()


def test_last_used_is_written_at_most_once_a_minute():
    key = access_key_create(UserFactory()).key
    now = timezone.now()
    access_key_mark_used(key, now=now)

    access_key_mark_used(key, now=now + timedelta(seconds=30))
    after_30s = AccessKey.objects.get(pk=key.pk).last_used_at
    access_key_mark_used(key, now=now + timedelta(seconds=61))

    assert after_30s == now
    assert AccessKey.objects.get(pk=key.pk).last_used_at == now + timedelta(seconds=61)


def test_last_owner_cannot_leave_or_be_demoted():
    membership = MembershipFactory(role=Role.OWNER)

    with pytest.raises(ValidationError, match="at least one owner"):
        membership_remove(membership)
    with pytest.raises(ValidationError, match="at least one owner"):
        membership_set(membership.project, user=membership.user, role=Role.VIEWER)

    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER


def test_an_owner_can_leave_when_another_owner_remains():
    membership = MembershipFactory(role=Role.OWNER)
    membership_set(membership.project, user=UserFactory(), role=Role.OWNER)

    membership_remove(membership)

    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_unknown_role_is_refused():
    membership = MembershipFactory()

    with pytest.raises(ValidationError, match="Role must be one of"):
        membership_set(membership.project, user=UserFactory(), role="admin")


def test_project_name_is_required():
    with pytest.raises(ValidationError):
        project_create(name="   ", owner=UserFactory())


@pytest.mark.parametrize("tags", [["a"], {"a": 1}, {1: "a"}])
def test_tags_must_be_a_string_map(tags):
    with pytest.raises(ValidationError):
        tags_validate(tags)
