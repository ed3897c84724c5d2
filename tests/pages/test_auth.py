import pytest
from django.urls import reverse

from tests.factories import UserFactory

PAGES = [
    "dashboard",
    "audience:endpoints",
    "audience:segments",
    "campaigns:campaigns",
    "campaigns:templates",
    "journeys:journeys",
    "project_settings",
    "project_new",
    "project_delete",
    "access_keys",
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_pages_redirect_anonymous_visitors_to_login(client, name):
    url = reverse(name)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.django_db
def test_login_page_has_labelled_fields(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert 'href="#main"' in html


@pytest.mark.django_db
def test_login_with_a_password_leads_to_the_dashboard(client):
    UserFactory(username="ada")

    response = client.post(
        reverse("login"), {"username": "ada", "password": "correct horse battery staple"}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert response.wsgi_request.user.username == "ada"


@pytest.mark.django_db
def test_logout_is_a_post_form(client, user):
    client.force_login(user)

    page = client.get(reverse("dashboard")).content.decode()
    response = client.post(reverse("logout"))

    assert f'<form method="post" action="{reverse("logout")}"' in page
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
