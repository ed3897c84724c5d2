"""CSRF: every page URL of the four apps refuses a signed-in browser's POST that lacks the token
(403, nothing changed), and the forms and the editor's JSON calls carry it."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

import audience.urls
import campaigns.urls
import journeys.urls
import projects.urls
from audience.analytics.dashboard import TABLES
from tests.security.conftest import differences, snapshot
from tests.security.test_tenant_pages import b_ids, patterns, url_of

pytestmark = pytest.mark.django_db(transaction=True)


def every_page(ids: dict) -> list[tuple[str, str]]:
    values = {**ids, "type_slug": "email", "name": "sec-welcome", "slug": "email", "step": "details", "index": "0"}
    values["table"] = next(iter(TABLES))
    found = []
    for module in (projects.urls, audience.urls, campaigns.urls, journeys.urls):
        for route, name in patterns(module.urlpatterns):
            found.append((name, url_of(route, values)))
    return found


@pytest.fixture
def browser(tenants):
    """mallory, owner of project B (which holds one of everything), in a browser that checks CSRF."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="mallory"))
    return client


def test_a_post_without_the_csrf_token_is_refused_everywhere(browser, tenants):
    pages = every_page(b_ids(tenants[1]))
    failures = []
    for name, url in pages:
        before = snapshot()
        if name.startswith("journey"):
            response = browser.post(
                url, {"definition": {"Name": "x"}, "State": "ACTIVE"}, content_type="application/json"
            )
        else:
            response = browser.post(url, {"name": "x", "Name": "x", "role": "viewer", "username": "alice"})
        changed = differences(before, snapshot())
        if response.status_code != 403 or changed:
            failures.append(f"{name} {url}: {response.status_code} changed={changed}")
    assert len(pages) > 50
    assert not failures, "\n".join(failures)


def test_a_post_with_a_wrong_token_is_refused(browser, tenants):
    browser.get("/settings/")  # sets the csrftoken cookie
    before = snapshot()

    response = browser.post("/settings/name/", {"name": "renamed", "csrfmiddlewaretoken": "x" * 64})

    assert response.status_code == 403
    assert differences(before, snapshot()) == []


def test_the_same_post_with_the_token_goes_through(browser, tenants):
    """So the 403s above are CSRF and not something else."""
    browser.get("/settings/")
    token = browser.cookies["csrftoken"].value

    response = browser.post("/settings/name/", {"name": "renamed", "csrfmiddlewaretoken": token})

    assert response.status_code in (200, 302)
    tenants[1].project.refresh_from_db()
    assert tenants[1].project.name == "renamed"


@pytest.mark.parametrize("url", ["/settings/", "/segments/new/", "/audience/import/", "/templates/new/email/"])
def test_forms_carry_the_token(browser, url):
    html = browser.get(url).content.decode()

    assert re.search(r'name="csrfmiddlewaretoken" value="[^"]{32,}"', html)


def test_the_journey_editor_hands_its_json_calls_the_token(browser, tenants):
    html = browser.get(f"/journeys/{tenants[1].journey_id}/").content.decode()
    island = html.split('id="journey-data"', 1)[1].split("</script>", 1)[0]

    assert re.search(r'"csrfToken": "[^"]{32,}"', island)
