"""Tenant isolation of the pages: every project-scoped page whose URL carries an id, opened (GET) and
posted to by a member of project A with project B's ids, answers 404, shows none of B's data and
changes nothing."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver

import audience.urls
import campaigns.urls
import journeys.urls
import projects.urls
from projects.models import AccessKey, Membership
from tests.security.conftest import differences, snapshot

pytestmark = pytest.mark.django_db(transaction=True)

B_DATA = ("B-segment", "B-campaign", "B-journey", "b@example.com")
# Path parameters that name no tenant's resource: template names (installation-wide), channel slugs
# of the current project, wizard steps, dashboard tables.
JOURNEY_JSON = {"definition": {"Name": "Mine"}, "State": "ACTIVE"}
NOT_TENANT_IDS = {"type_slug", "name", "slug", "table", "step", "index"}


def patterns(module_patterns, prefix=""):
    for entry in module_patterns:
        if isinstance(entry, URLResolver):
            yield from patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name


def id_pages():
    """(route, name, parameter names) of every page under the four apps whose path names an id."""
    found = []
    for module in (projects.urls, audience.urls, campaigns.urls, journeys.urls):
        for route, name in patterns(module.urlpatterns):
            parameters = re.findall(r"<(?:\w+:)?(\w+)>", route)
            if parameters and not set(parameters) & NOT_TENANT_IDS:
                found.append((route, name, parameters))
    return found


def b_ids(b) -> dict:
    mallory = get_user_model().objects.get(username="mallory")
    return {
        "segment_id": b.segment_id,
        "campaign_id": b.campaign_id,
        "journey_id": b.journey_id,
        "job_id": b.import_job_id,
        "endpoint_id": "e1",
        "membership_id": str(Membership.objects.get(project=b.project).pk),
        "access_key_id": AccessKey.objects.filter(user=mallory).first().access_key_id,
    }


def url_of(route: str, ids: dict) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ids[m.group(1)], route)


def test_every_id_page_is_listed():
    names = {name for _, name, _ in id_pages()}
    assert {"segment", "campaign", "journey", "import_job", "endpoint", "member_role", "access_key_revoke"} <= names
    assert len(names) >= 25


def test_the_pages_answer_the_owner_so_a_404_means_tenancy(client, tenants):
    _, b = tenants
    client.force_login(get_user_model().objects.get(username="mallory"))
    ids = b_ids(b)
    wrong = []
    for route, name, _ in id_pages():
        response = client.get(url_of(route, ids))
        if response.status_code == 404:
            wrong.append(f"{name} {url_of(route, ids)}")
    assert not wrong, wrong


def test_another_projects_ids_answer_404_show_nothing_and_change_nothing(client, tenants):
    _, b = tenants
    client.force_login(get_user_model().objects.get(username="alice"))
    ids = b_ids(b)
    failures = []
    for route, name, _ in id_pages():
        url = url_of(route, ids)
        for method in ("get", "post"):
            before = snapshot()
            if method == "post" and name.startswith("journey_"):  # the editor's JSON views
                response = client.post(url, JOURNEY_JSON, content_type="application/json")
            else:
                response = getattr(client, method)(url)
            changed = differences(before, snapshot())
            allowed = (403, 404, 405)  # 405: the view takes the other method, and says no more
            content = response.content.decode(errors="replace")
            shown = [datum for datum in B_DATA if datum in content]
            if response.status_code not in allowed or changed or shown:
                failures.append(
                    f"{method.upper()} {name} {url}: {response.status_code} changed={changed} shown={shown}"
                )
    assert not failures, "\n".join(failures)
