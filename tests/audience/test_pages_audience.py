import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import override_settings
from django.urls import URLResolver, include, path, reverse

from audience import views
from audience.compiler import attribute_has_any
from audience.models import Endpoint
from audience.services import endpoints_write
from audience.urls import urlpatterns as audience_urlpatterns
from audience.validation import parse_endpoint
from engage.urls import urlpatterns as project_urlpatterns
from projects.models import Role
from tests.factories import EventFactory, MembershipFactory, ProjectFactory

LIST = reverse("audience:endpoints")
ROW_ID = re.compile(r'<th scope="row"><a href="[^"]*"><code>([^<]*)</code></a></th>')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">')
PREVIOUS = re.compile(r'<a href="([^"]+)" rel="prev">')


def write(project, *items: tuple[str, dict]) -> None:
    endpoints_write(project, [parse_endpoint(endpoint_id, body) for endpoint_id, body in items])


def listed(response) -> list[str]:
    return [html.unescape(found) for found in ROW_ID.findall(response.content.decode())]


def detail_url(endpoint_id: str) -> str:
    return reverse("audience:endpoint", args=[endpoint_id])


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    return client


@pytest.fixture
def audience(project):
    write(
        project,
        ("ada-email", {"ChannelType": "EMAIL", "Address": "ada@example.com", "User": {"UserId": "ada"}}),
        ("ada-sms", {"ChannelType": "SMS", "Address": "+15550100", "User": {"UserId": "ada"}, "OptOut": "ALL"}),
        ("Bob-Phone", {"ChannelType": "APNS", "Address": "token-b", "Attributes": {"Interests": ["music", "art"]}}),
        ("carol", {"ChannelType": "EMAIL", "Address": "carol@example.com", "Attributes": {"Interests": ["art"]}}),
        ("dave", {"ChannelType": "EMAIL", "Address": "dave@example.com", "EndpointStatus": "INACTIVE"}),
    )
    return project


@pytest.mark.django_db
def test_pages_need_a_login(client, project):
    write(project, ("e1", {"ChannelType": "EMAIL"}))

    answers = [client.get(LIST), client.get(detail_url("e1"))]

    assert [a.status_code for a in answers] == [302, 302]
    assert all(a["Location"].startswith(reverse("login")) for a in answers)


def test_empty_project_explains_how_endpoints_get_in(signed_in, project):
    page = signed_in.get(LIST).content.decode()

    assert "No endpoints yet" in page
    assert f'ApplicationId="{project.id}"' in page
    for call in ("client.update_endpoint(", "client.update_endpoints_batch(", "client.put_events("):
        assert call in page
    assert 'endpoint_url="http://testserver/"' in page
    assert "<table" not in page


class UrlsWithImport:
    """The project's URLs with an `audience:import` page, as the import work adds it."""

    urlpatterns = [
        *[p for p in project_urlpatterns if not (isinstance(p, URLResolver) and p.app_name == "audience")],
        path(
            "",
            include(
                (
                    [*audience_urlpatterns, path("audience/import/", lambda r: HttpResponse(), name="import")],
                    "audience",
                )
            ),
        ),
    ]


@pytest.mark.parametrize("with_endpoints", [False, True])
def test_import_is_linked_once_its_page_exists(signed_in, project, with_endpoints):
    if with_endpoints:
        write(project, ("e1", {}))

    with override_settings(ROOT_URLCONF=UrlsWithImport):
        page = signed_in.get(LIST).content.decode()

    assert 'href="/audience/import/"' in page


def test_list_shows_every_endpoint_by_id_with_its_columns(signed_in, audience):
    response = signed_in.get(LIST)

    page = response.content.decode()
    assert listed(response) == ["ada-email", "ada-sms", "Bob-Phone", "carol", "dave"]
    assert "<caption>All endpoints, ordered by endpoint id</caption>" in page
    assert '<th scope="col">Effective date</th>' in page
    assert "+15550100" in page
    assert f'href="{detail_url("Bob-Phone")}"' in page


def test_list_explains_the_fields_in_pinpoint_terms_and_labels_every_filter(signed_in, audience):
    page = signed_in.get(LIST).content.decode()

    for member in ("Id", "ChannelType", "Address", "User.UserId", "EndpointStatus", "OptOut", "EffectiveDate"):
        assert f"(<code>{member}</code>)</dt>" in page, member
    for name in ("q", "channel", "status", "opt_out", "attribute", "value"):
        assert f'<label for="id_{name}">' in page, name
    assert "<caption>Endpoints per channel</caption>" in page
    assert '<nav class="pager"' not in page  # one page only


def test_counts_cover_total_active_opted_out_and_channels(signed_in, audience):
    counts = signed_in.get(LIST).context["counts"]

    assert (counts.total, counts.active, counts.opted_out) == (5, 4, 1)
    assert [(c.channel, c.total, c.reachable) for c in counts.channels] == [
        ("APNS", 1, 1),
        ("SMS", 1, 0),
        ("EMAIL", 3, 2),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ADA", ["ada-email", "ada-sms"]),  # endpoint id prefix, any case
        ("bob-p", ["Bob-Phone"]),
        ("carol@example.com", ["carol"]),  # exact address
        ("carol@example", []),  # addresses are not prefix-matched
        ("ada", ["ada-email", "ada-sms"]),  # exact user id (and prefix)
        ("+15550100", ["ada-sms"]),
        ("nobody", []),
    ],
)
def test_search_matches_id_prefix_exact_address_or_user_id(signed_in, audience, query, expected):
    assert listed(signed_in.get(LIST, {"q": query})) == expected


def test_search_by_user_id_finds_endpoints_whose_ids_differ(signed_in, project):
    write(project, ("device-1", {"User": {"UserId": "u-77"}}), ("u-770", {}))

    assert listed(signed_in.get(LIST, {"q": "u-77"})) == ["device-1", "u-770"]
    assert listed(signed_in.get(LIST, {"q": "device"})) == ["device-1"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"channel": "EMAIL"}, ["ada-email", "carol", "dave"]),
        ({"channel": "APNS"}, ["Bob-Phone"]),
        ({"status": "INACTIVE"}, ["dave"]),
        ({"status": "ACTIVE", "channel": "EMAIL"}, ["ada-email", "carol"]),
        ({"opt_out": "ALL"}, ["ada-sms"]),
        ({"opt_out": "NONE", "q": "ada"}, ["ada-email"]),
    ],
)
def test_filters_narrow_the_list(signed_in, audience, params, expected):
    response = signed_in.get(LIST, params)

    assert listed(response) == expected
    assert "Endpoints matching the filters" in response.content.decode()


@pytest.mark.parametrize(
    ("attribute", "value", "expected"),
    [
        ("Interests", "art", ["Bob-Phone", "carol"]),
        ("Interests", "music", ["Bob-Phone"]),
        ("Interests", "Art", []),  # values are case-sensitive, as in Pinpoint segments
        ("Interests", "ar", []),  # whole values only
        ("interests", "art", []),  # names are case-sensitive
        ("Plan", "art", []),
    ],
)
def test_attribute_filter_matches_one_value_of_the_named_list(signed_in, audience, attribute, value, expected):
    assert listed(signed_in.get(LIST, {"attribute": attribute, "value": value})) == expected


@pytest.mark.django_db
def test_attribute_filter_handles_names_and_values_with_json_characters():
    project = ProjectFactory()
    odd_name, odd_value = 'say "hi".$[0]', 'a "quoted" \\ value'
    write(
        project,
        ("odd", {"Attributes": {odd_name: [odd_value], "x": ["1"]}}),
        ("plain", {"Attributes": {"x": ["1"]}}),
    )

    found = Endpoint.objects.for_project(project).filter(attribute_has_any(odd_name, [odd_value]))

    assert [e.endpoint_id for e in found] == ["odd"]


@pytest.mark.django_db
def test_attribute_filter_works_inside_a_subquery():
    project = ProjectFactory()
    write(project, ("a", {"Attributes": {"Tier": ["gold"]}}), ("b", {"Attributes": {"Tier": ["silver"]}}))
    gold = Endpoint.objects.for_project(project).filter(attribute_has_any("Tier", ["gold"])).values("pk")

    found = Endpoint.objects.filter(pk__in=gold)

    assert [e.endpoint_id for e in found] == ["a"]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index exists on PostgreSQL only")
def test_attribute_filter_uses_the_gin_index_on_postgresql():
    project = ProjectFactory()
    write(project, ("a", {"Attributes": {"Tier": ["gold"]}}))
    # Without the project condition, so the plan shows the GIN index can serve the expression
    # (with it, a tiny table is read through any project index).
    queryset = Endpoint.objects.filter(attribute_has_any("Tier", ["gold"]))

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()

    assert '"attributes" @> ' in str(queryset.query)
    assert "endpoint_attributes_gin" in plan


def test_attribute_needs_a_value_and_a_value_needs_an_attribute(signed_in, audience):
    response = signed_in.get(LIST, {"attribute": "Interests"})

    assert response.context["page"] is None
    assert "give both its name and a value" in response.content.decode()
    assert listed(response) == []


def test_an_unknown_channel_is_a_form_error_not_an_empty_list(signed_in, audience):
    response = signed_in.get(LIST, {"channel": "FAX"})

    assert "Select a valid choice" in response.content.decode()
    assert response.context["page"] is None


def test_no_match_offers_to_clear_the_filters(signed_in, audience):
    page = signed_in.get(LIST, {"q": "nobody"}).content.decode()

    assert "No endpoint matches these filters" in page
    assert "Clear filters" in page


def walk(client, first_url: str, link: re.Pattern, params: dict | None = None) -> tuple[list[list[str]], list[dict]]:
    pages, queries = [], []
    response = client.get(first_url, params or {})
    while True:
        pages.append(listed(response))
        found = link.search(response.content.decode())
        if not found:
            return pages, queries
        url = html.unescape(found.group(1))
        queries.append(parse_qs(urlsplit(url).query))
        response = client.get(LIST + url)


def test_keyset_pages_walk_every_endpoint_exactly_once(signed_in, project, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    ids = [f"E{n:02d}" for n in range(11)] + ["a b/c", "e05 "]
    write(project, *[(i, {"ChannelType": "EMAIL"}) for i in ids])

    pages, queries = walk(signed_in, LIST, NEXT)

    assert [len(p) for p in pages] == [3, 3, 3, 3, 1]
    walked = [i for p in pages for i in p]
    assert walked == sorted(ids, key=str.lower)
    assert all("after" in q and "page" not in q and "offset" not in q for q in queries)


def test_previous_links_walk_back_to_the_first_page(signed_in, project, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    write(project, *[(f"e{n:02d}", {}) for n in range(8)])
    last_page = signed_in.get(LIST, {"after": "e05"})

    pages, _ = walk(signed_in, LIST, PREVIOUS, {"after": "e05"})

    assert listed(last_page) == ["e06", "e07"]
    assert pages == [["e06", "e07"], ["e03", "e04", "e05"], ["e00", "e01", "e02"]]


def test_search_pages_walk_every_match_exactly_once(signed_in, project, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    write(
        project,
        *[(f"m-{n}", {"Address": "shared@example.com" if n % 3 == 0 else f"m{n}@example.com"}) for n in range(6)],
        *[(f"a-{n}", {"User": {"UserId": "m-"}}) for n in range(3)],
        ("z-9", {"Address": "m-"}),
        ("M-", {}),
        ("n-1", {"Address": "shared@example.com"}),
    )
    matches = ["a-0", "a-1", "a-2", "M-", "m-0", "m-1", "m-2", "m-3", "m-4", "m-5", "z-9"]

    forward, _ = walk(signed_in, LIST, NEXT, {"q": "m-"})
    backward, _ = walk(signed_in, LIST, PREVIOUS, {"q": "m-", "after": "m-5"})

    assert [i for p in forward for i in p] == matches
    assert [i for p in reversed(backward) for i in p] == matches
    assert all(len(p) == 2 for p in forward[:-1])


def test_next_link_keeps_the_filters(signed_in, project, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    write(project, *[(f"e{n}", {"ChannelType": "SMS" if n % 2 else "EMAIL"}) for n in range(7)])

    pages, queries = walk(signed_in, LIST, NEXT, {"channel": "SMS"})

    assert pages == [["e1", "e3"], ["e5"]]
    assert queries == [{"channel": ["SMS"], "after": ["e3"]}]


def test_another_projects_endpoints_are_neither_listed_nor_counted(signed_in, audience):
    other = ProjectFactory()
    write(other, ("ada-email-2", {"ChannelType": "EMAIL", "Address": "ada@example.com"}))

    response = signed_in.get(LIST, {"q": "ada"})

    assert listed(response) == ["ada-email", "ada-sms"]
    assert response.context["counts"].total == 5


def test_another_projects_endpoint_is_not_found(signed_in, project):
    other = ProjectFactory()
    write(other, ("theirs", {"ChannelType": "EMAIL"}))

    response = signed_in.get(detail_url("theirs"))

    assert response.status_code == 404


def test_the_same_id_in_two_projects_shows_the_current_projects_endpoint(signed_in, project):
    write(ProjectFactory(), ("shared", {"Address": "theirs@example.com"}))
    write(project, ("shared", {"Address": "ours@example.com"}))

    page = signed_in.get(detail_url("shared")).content.decode()

    assert "ours@example.com" in page
    assert "theirs@example.com" not in page


def test_detail_shows_every_field_with_pinpoint_names(signed_in, project):
    write(
        project,
        (
            "Phone-1",
            {
                "ChannelType": "SMS",
                "Address": "+15550199",
                "OptOut": "ALL",
                "RequestId": "req-9",
                "Demographic": {"Platform": "android", "Timezone": "Europe/Paris", "Locale": "fr_FR"},
                "Location": {"Country": "FR", "City": "Lyon", "Latitude": 45.76},
                "Attributes": {"Interests": ["cooking", "jazz"]},
                "Metrics": {"visits": 12},
            },
        ),
    )
    endpoint = Endpoint.objects.get(project=project)

    page = signed_in.get(detail_url("Phone-1")).content.decode()

    for label in (
        "Id",
        "ApplicationId",
        "ChannelType",
        "Address",
        "EndpointStatus",
        "OptOut",
        "User.UserId",
        "EffectiveDate",
        "CreationDate",
        "RequestId",
        "CohortId",
        "Demographic.AppVersion",
        "Demographic.Platform",
        "Demographic.Timezone",
        "Location.Country",
        "Location.Latitude",
        "Location.PostalCode",
    ):
        assert f"<dt><code>{label}</code></dt>" in page, label
    assert "<dt><code>Demographic.Platform</code></dt><dd>android</dd>" in page
    assert "<dt><code>Location.Latitude</code></dt><dd>45.8</dd>" in page
    assert f"<dd>{endpoint.cohort_id} " in page
    assert "<code>req-9</code>" in page
    assert "<li>cooking</li><li>jazz</li>" in page
    assert '<th scope="row"><code>visits</code></th><td class="number">12.0</td>' in page
    assert "receives no messages" in page
    assert "once\n  Engage sends messages" in page


def test_detail_shows_the_users_attributes_and_other_endpoints(signed_in, project):
    write(
        project,
        ("web", {"ChannelType": "EMAIL", "User": {"UserId": "u-1", "UserAttributes": {"Plan": ["pro"]}}}),
        ("Phone/1", {"ChannelType": "SMS", "User": {"UserId": "u-1"}}),
        ("stranger", {"ChannelType": "SMS", "User": {"UserId": "u-2"}}),
    )

    response = signed_in.get(detail_url("web"))

    page = response.content.decode()
    assert [e.endpoint_id for e in response.context["other_endpoints"]] == ["Phone/1"]
    assert f'href="{detail_url("Phone/1")}"' in page
    assert "stranger" not in page
    assert "<caption>User attributes (<code>User.UserAttributes</code>)</caption>" in page
    assert "<li>pro</li>" in page
    assert f'href="{LIST}?q=u-1"' in page


def test_detail_of_an_endpoint_without_a_user_says_so(signed_in, project):
    write(project, ("lonely", {"ChannelType": "EMAIL"}))

    response = signed_in.get(detail_url("lonely"))

    assert "This endpoint has no user" in response.content.decode()
    assert response.context["other_endpoints"] == []


def test_detail_shows_the_latest_50_events_newest_first(signed_in, project):
    write(project, ("Device-9", {"ChannelType": "APNS"}))
    start = datetime(2025, 3, 1, tzinfo=UTC)
    for n in range(60):
        EventFactory(
            project=project,
            endpoint_key="device-9",
            event_type=f"type-{n}",
            timestamp=start + timedelta(minutes=n),
            attributes={"screen": "home"} if n == 59 else {},
        )
    EventFactory(project=project, endpoint_key="other", event_type="not-mine", timestamp=start + timedelta(days=1))
    EventFactory(project=ProjectFactory(), endpoint_key="device-9", event_type="elsewhere", timestamp=start)

    response = signed_in.get(detail_url("Device-9"))

    events = response.context["events"]
    page = response.content.decode()
    assert [e.event_type for e in events] == [f"type-{n}" for n in range(59, 9, -1)]
    assert "<code>screen</code> = home" in page
    assert "not-mine" not in page
    assert "elsewhere" not in page
    assert "type-9<" not in page


@pytest.mark.parametrize(
    "endpoint_id",
    ["with space", "a/b/c", "/leading/", "trailing/", "../up", "./here", "100%", "what?x=1#frag", "ünïcødé ✓", "a\tb"],
)
def test_detail_opens_for_ids_with_any_allowed_character(signed_in, project, endpoint_id):
    write(project, (endpoint_id, {"ChannelType": "CUSTOM", "Address": "x"}))
    url = detail_url(endpoint_id)

    listing = signed_in.get(LIST).content.decode()
    response = signed_in.get(url)

    assert f'href="{html.escape(url)}"' in listing
    assert response.status_code == 200
    assert response.context["endpoint"].endpoint_id == endpoint_id


def test_detail_finds_the_endpoint_in_any_case(signed_in, project):
    write(project, ("Device-A", {"ChannelType": "EMAIL"}))

    response = signed_in.get(detail_url("DEVICE-a"))

    assert response.status_code == 200
    assert response.context["endpoint"].endpoint_id == "Device-A"


def test_unknown_endpoint_is_not_found(signed_in, project):
    assert signed_in.get(detail_url("missing")).status_code == 404
    assert signed_in.get(detail_url("nul\x00byte")).status_code == 404


def test_a_cursor_holding_nul_starts_from_the_first_page(signed_in, audience):
    answers = [signed_in.get(LIST, {"after": "a\x00"}), signed_in.get(LIST, {"before": "z\x00"})]

    assert [listed(a)[0] for a in answers] == ["ada-email", "ada-email"]


@pytest.mark.django_db
def test_a_viewer_may_browse_the_audience(client):
    viewer = MembershipFactory(role=Role.VIEWER)
    write(viewer.project, ("e1", {"ChannelType": "EMAIL"}))
    client.force_login(viewer.user)

    answers = [client.get(LIST), client.get(detail_url("e1"))]

    assert [a.status_code for a in answers] == [200, 200]


def test_list_queries_do_not_grow_with_rows(signed_in, project, django_assert_max_num_queries):
    write(project, *[(f"e{n:03d}", {"ChannelType": "EMAIL", "User": {"UserId": f"u{n}"}}) for n in range(120)])
    signed_in.get(LIST)  # the first page of a session also stores the chosen project in it

    with django_assert_max_num_queries(7):
        first = signed_in.get(LIST)
    with django_assert_max_num_queries(7):
        filtered = signed_in.get(LIST, {"channel": "EMAIL", "attribute": "a", "value": "b"})
    with django_assert_max_num_queries(10):  # a search reads each way it matches, then orders those rows
        searched = signed_in.get(LIST, {"q": "e1", "channel": "EMAIL", "after": "e100"})

    assert len(listed(first)) == views.PAGE_SIZE
    assert listed(filtered) == []
    assert listed(searched) == [f"e1{n:02d}" for n in range(1, 20)]


def test_detail_queries_do_not_grow_with_events_or_endpoints(signed_in, project, django_assert_max_num_queries):
    write(project, *[(f"e{n:02d}", {"ChannelType": "EMAIL", "User": {"UserId": "u"}}) for n in range(15)])
    start = datetime(2025, 3, 1, tzinfo=UTC)
    for n in range(60):
        EventFactory(project=project, endpoint_key="e00", timestamp=start + timedelta(seconds=n))
    signed_in.get(LIST)  # the first page of a session also stores the chosen project in it

    with django_assert_max_num_queries(9):
        response = signed_in.get(detail_url("e00"))

    assert len(response.context["other_endpoints"]) == 14
