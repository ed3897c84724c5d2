import re

import pytest
from django.urls import reverse

from engage import crypto
from projects.models import AccessKey
from projects.services import access_key_create
from tests.factories import UserFactory


def test_a_new_key_shows_its_secret_once(client, user, project):
    client.force_login(user)

    created = client.post(reverse("access_keys"), {"description": "signup service"})
    listing = client.get(reverse("access_keys"))

    key = AccessKey.objects.get(user=user)
    secret = crypto.decrypt(key.secret_encrypted)
    created_html = created.content.decode()
    assert created.status_code == 200
    assert secret in created_html
    assert "It will not be shown again" in created_html
    assert f'aws_access_key_id="{key.access_key_id}"' in created_html
    assert f'aws_secret_access_key="{secret}"' in created_html
    assert 'endpoint_url="http://testserver/"' in created_html
    assert f'ApplicationId="{project.id}"' in created_html
    assert "no-store" in created["Cache-Control"]
    assert secret not in listing.content.decode()
    assert key.access_key_id in listing.content.decode()


def test_the_stored_row_holds_no_plaintext_secret(client, user):
    client.force_login(user)

    html = client.post(reverse("access_keys"), {"description": ""}).content.decode()

    key = AccessKey.objects.get(user=user)
    secret = re.search(r'<code id="secret-access-key" class="secret">([^<]+)</code>', html).group(1)
    assert secret not in key.secret_encrypted
    assert crypto.decrypt(key.secret_encrypted) == secret


def test_the_list_shows_only_my_keys(client, user):
    mine = access_key_create(user, description="mine").key
    theirs = access_key_create(UserFactory(), description="theirs").key
    client.force_login(user)

    html = client.get(reverse("access_keys")).content.decode()

    assert mine.access_key_id in html
    assert theirs.access_key_id not in html


def test_revoking_my_key(client, user):
    key = access_key_create(user).key
    client.force_login(user)

    response = client.post(reverse("access_key_revoke", args=[key.access_key_id]), follow=True)

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "Revoked" in response.content.decode()


def test_revoking_someone_elses_key_is_not_found(client, user):
    theirs = access_key_create(UserFactory()).key
    client.force_login(user)

    response = client.post(reverse("access_key_revoke", args=[theirs.access_key_id]))

    theirs.refresh_from_db()
    assert response.status_code == 404
    assert theirs.revoked_at is None


def test_revoking_needs_a_post(client, user):
    key = access_key_create(user).key
    client.force_login(user)

    response = client.get(reverse("access_key_revoke", args=[key.access_key_id]))

    key.refresh_from_db()
    assert response.status_code == 405
    assert key.revoked_at is None


@pytest.mark.django_db
def test_access_keys_work_without_a_project(client):
    client.force_login(UserFactory())

    response = client.get(reverse("access_keys"))

    assert response.status_code == 200
