"""The events explorer: events stored through PutEvents (boto3) with chosen timestamps, counted per
UTC day and type (from the rollup), filtered by an attribute (from the events), and funnels checked
against hand-computed numbers; the pages, their CSV downloads and their form errors."""

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from audience.analytics.explorer import (
    ExplorerError,
    counts_by_day,
    counts_by_day_where,
    event_type_metrics,
    funnel,
)
from audience.services import SystemEvent, events_record
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

D0, D1, D2, D3, D4 = (date(2026, 11, 19) + timedelta(days=n) for n in range(5))


def put(pinpoint, project, batches: dict[str, list[tuple]]) -> None:
    """PutEvents: {endpoint id: [(event type, ISO timestamp[, attributes]), ...]}; every event accepted."""
    request = {
        "BatchItem": {
            endpoint_id: {
                "Endpoint": {"ChannelType": "GCM", "Address": f"token-{endpoint_id}"},
                "Events": {
                    f"{endpoint_id}-{n}": {
                        "EventType": event[0],
                        "Timestamp": event[1],
                        **({"Attributes": event[2]} if len(event) > 2 else {}),
                    }
                    for n, event in enumerate(events)
                },
            }
            for endpoint_id, events in batches.items()
        }
    }
    results = pinpoint.put_events(ApplicationId=project.id, EventsRequest=request)["EventsResponse"]["Results"]
    statuses = {
        event_id: answer["StatusCode"]
        for item in results.values()
        for event_id, answer in item["EventsItemResponse"].items()
    }
    assert set(statuses.values()) == {202}, statuses


def record(project_id: str, events: list[tuple[str, str, str, datetime, dict]]) -> None:
    """Events Engage records itself (sends...), or another project's: (endpoint, id, type, time, attributes)."""
    events_record(
        [SystemEvent(project_id, key, event_id, kind, at, attrs) for key, event_id, kind, at, attrs in events]
    )


# Counts per day and type (rollup)


def test_events_are_counted_per_utc_day_and_type(pinpoint, project):
    put(
        pinpoint,
        project,
        {
            "a": [
                ("pageView", "2026-11-20T00:00:00Z"),
                ("pageView", "2026-11-20T23:59:59.999Z"),
                ("pageView", "2026-11-21T01:30:00+02:00"),  # 23:30 UTC on the 20th
                ("addToCart", "2026-11-21T00:00:00Z"),
                ("purchase", "2026-11-22T12:00:00Z"),
                ("pageView", "2026-11-23T00:00:00Z"),  # the day after the range
            ],
            "b": [("pageView", "2026-11-21T10:00:00Z"), ("pageView", "2026-11-19T23:59:59Z")],  # and before
        },
    )

    counts = counts_by_day(project.id, D1, D3)

    assert counts.days == [D1, D2, D3]
    assert counts.counts == {(D1, "pageView"): 3, (D2, "pageView"): 1, (D2, "addToCart"): 1, (D3, "purchase"): 1}
    assert counts.totals == {"pageView": 4, "addToCart": 1, "purchase": 1}
    assert counts.series("pageView") == [3, 1, 0]
    assert counts.raw is False


def test_counts_can_be_restricted_to_chosen_types(pinpoint, project):
    put(pinpoint, project, {"a": [("pageView", "2026-11-20T10:00:00Z"), ("search", "2026-11-20T11:00:00Z")]})

    counts = counts_by_day(project.id, D1, D1, types=["search", "purchase"])

    assert counts.counts == {(D1, "search"): 1}


def test_derived_rollup_metrics_are_not_event_types_and_sends_count_under_their_type(pinpoint, project):
    put(pinpoint, project, {"a": [("_session.start", "2026-11-20T10:00:00Z")]})
    record(
        project.id,
        [
            ("a", "s1", "_campaign.send", datetime(2026, 11, 20, 11, tzinfo=UTC), _send("SUCCESS")),
            ("b", "s2", "_campaign.send", datetime(2026, 11, 20, 11, tzinfo=UTC), _send("QUIET_TIME")),
            ("c", "s3", "_campaign.send", datetime(2026, 11, 21, 11, tzinfo=UTC), _send("SUCCESS")),
            ("a", "e1", "_email.send", datetime(2026, 11, 20, 11, tzinfo=UTC), {"message_id": "m1"}),
        ],
    )

    known = event_type_metrics(project.id)
    counts = counts_by_day(project.id, D1, D2)

    assert list(known) == ["_campaign.send", "_email.send", "_session.start"]  # no endpoints.active, send.accepted
    assert known["_campaign.send"] == ["_campaign.send:QUIET_TIME", "_campaign.send:SUCCESS"]
    assert counts.counts == {
        (D1, "_session.start"): 1,
        (D1, "_campaign.send"): 2,
        (D2, "_campaign.send"): 1,
        (D1, "_email.send"): 1,
    }


def _send(status: str) -> dict:
    return {
        "campaign_id": "c1",
        "campaign_activity_id": "a1",
        "treatment_id": "0",
        "delivery_type": "GCM",
        "campaign_send_status": status,
    }


def test_another_projects_events_are_never_counted(pinpoint, project):
    put(pinpoint, project, {"a": [("pageView", "2026-11-20T10:00:00Z", {"plan": "pro"})]})
    other = ProjectFactory()
    record(other.id, [("a", "x", "pageView", datetime(2026, 11, 20, 10, tzinfo=UTC), {"plan": "pro"})])
    record(other.id, [("a", "y", "secret", datetime(2026, 11, 20, 10, tzinfo=UTC), {"plan": "pro"})])

    assert counts_by_day(project.id, D1, D1).counts == {(D1, "pageView"): 1}
    assert counts_by_day_where(project.id, D1, D1, attribute="plan", value="pro").counts == {(D1, "pageView"): 1}
    assert list(event_type_metrics(project.id)) == ["pageView"]


def test_a_range_longer_than_92_days_or_backwards_is_refused(project):
    with pytest.raises(ExplorerError, match="93 days; at most 92"):
        counts_by_day(project.id, D1, D1 + timedelta(days=92))
    with pytest.raises(ExplorerError, match="ends before it starts"):
        counts_by_day(project.id, D2, D1)

    assert counts_by_day(project.id, D1, D1 + timedelta(days=91)).days[-1] == D1 + timedelta(days=91)


# Filtered by an attribute (raw events)


def test_counts_filtered_by_an_attribute_read_the_events(pinpoint, project):
    put(
        pinpoint,
        project,
        {
            "a": [
                ("pageView", "2026-11-20T10:00:00Z", {"plan": "pro", "utm.source": "news"}),
                ("pageView", "2026-11-20T23:30:00Z", {"plan": "pro"}),
                ("pageView", "2026-11-21T00:30:00+01:00", {"plan": "pro"}),  # 23:30 UTC on the 20th
                ("pageView", "2026-11-21T10:00:00Z", {"plan": "Pro"}),  # another value: case counts
                ("purchase", "2026-11-21T10:00:00Z", {"plan": "pro"}),
                ("purchase", "2026-11-21T11:00:00Z"),  # no attributes
                ("purchase", "2026-11-23T10:00:00Z", {"plan": "pro"}),  # after the range
            ],
            "b": [("pageView", "2026-11-21T09:00:00Z", {"plan": "free", "utm.source": "news"})],
            "c": [("search", "2026-11-21T09:00:00Z", {'it\'s "$.x"': "1; DROP TABLE x"})],
        },
    )

    pro = counts_by_day_where(project.id, D1, D3, attribute="plan", value="pro")
    pro_views = counts_by_day_where(project.id, D1, D3, attribute="plan", value="pro", types=["pageView"])
    dotted = counts_by_day_where(project.id, D1, D3, attribute="utm.source", value="news")

    assert pro.raw is True
    assert pro.counts == {(D1, "pageView"): 3, (D2, "purchase"): 1}
    assert pro_views.counts == {(D1, "pageView"): 3}
    assert dotted.counts == {(D1, "pageView"): 1, (D2, "pageView"): 1}
    assert counts_by_day_where(project.id, D1, D3, attribute="plan", value="gold").counts == {}
    quoted = counts_by_day_where(project.id, D1, D3, attribute='it\'s "$.x"', value="1; DROP TABLE x")
    assert quoted.counts == {(D2, "search"): 1}


# Funnels

FUNNEL_EVENTS = {
    # view → cart → buy, in order: every step
    "a": [("view", "2026-11-20T10:00:00Z"), ("cart", "2026-11-20T11:00:00Z"), ("buy", "2026-11-21T09:00:00Z")],
    # two steps
    "b": [("view", "2026-11-20T12:00:00Z"), ("cart", "2026-11-21T08:00:00Z")],
    # out of order: cart before view, then buy — only step 1
    "c": [("cart", "2026-11-20T09:00:00Z"), ("view", "2026-11-20T10:00:00Z"), ("buy", "2026-11-20T11:00:00Z")],
    # buy before cart: steps 1 and 2
    "d": [("view", "2026-11-20T10:00:00Z"), ("buy", "2026-11-20T11:00:00Z"), ("cart", "2026-11-20T12:00:00Z")],
    # no step 1
    "e": [("cart", "2026-11-20T10:00:00Z"), ("buy", "2026-11-20T11:00:00Z")],
    # step 1 only before the range
    "f": [("view", "2026-11-19T23:00:00Z"), ("cart", "2026-11-20T01:00:00Z"), ("buy", "2026-11-20T02:00:00Z")],
    # every step, the later ones two days after the first view
    "g": [
        ("view", "2026-11-20T10:00:00Z"),
        ("view", "2026-11-21T10:00:00Z"),
        ("cart", "2026-11-22T10:00:00Z"),
        ("buy", "2026-11-22T11:00:00Z"),
    ],
    # step 2 after the range
    "h": [("view", "2026-11-22T23:00:00Z"), ("cart", "2026-11-23T01:00:00Z"), ("buy", "2026-11-23T02:00:00Z")],
    # steps 1 and 2 at the same instant: at or after
    "i": [("view", "2026-11-20T15:00:00.250Z"), ("cart", "2026-11-20T15:00:00.250Z")],
    # cart exactly one day after the first view; buy one microsecond later
    "j": [
        ("view", "2026-11-20T16:00:00.500Z"),
        ("cart", "2026-11-21T16:00:00.500Z"),
        ("buy", "2026-11-21T16:00:00.500001Z"),
    ],
}


def test_funnel_counts_endpoints_doing_the_steps_in_order(pinpoint, project):
    put(pinpoint, project, FUNNEL_EVENTS)

    result = funnel(project.id, D1, D3, ["view", "cart", "buy"])

    # step 1: a b c d g h i j; step 2: a b d g i j; step 3: a g j
    assert [(s.event_type, s.endpoints, s.dropped, s.from_previous, s.from_first) for s in result.steps] == [
        ("view", 8, None, None, 100.0),
        ("cart", 6, 2, 75.0, 75.0),
        ("buy", 3, 3, 50.0, 37.5),
    ]
    assert result.overall == 37.5
    assert result.completed == 3


def test_funnel_conversion_window_counts_from_the_first_step_1_event(pinpoint, project):
    put(pinpoint, project, FUNNEL_EVENTS)

    result = funnel(project.id, D1, D3, ["view", "cart", "buy"], window=timedelta(days=1))

    # g's cart is two days after its first view; j's buy a microsecond past the day; a's buy within it
    assert [s.endpoints for s in result.steps] == [8, 5, 1]


def test_funnel_of_two_steps_and_reversed(pinpoint, project):
    put(pinpoint, project, FUNNEL_EVENTS)

    # cart → view: first carts of a b c d e f g i j in the range; a view at or after it: c, and i
    # (same instant); f's view is before its cart and outside the range
    assert [s.endpoints for s in funnel(project.id, D1, D3, ["cart", "view"]).steps] == [9, 2]
    # buy → cart: first buys of a c d e f g j in the range (h's is after it); a cart after it: d only
    assert [s.endpoints for s in funnel(project.id, D1, D3, ["buy", "cart"]).steps] == [7, 1]


def test_funnel_never_joins_another_projects_events(pinpoint, project):
    put(pinpoint, project, {"a": [("view", "2026-11-20T10:00:00Z")], "b": [("view", "2026-11-20T10:00:00Z")]})
    other = ProjectFactory()
    record(other.id, [("a", "1", "cart", datetime(2026, 11, 20, 11, tzinfo=UTC), {})])
    record(other.id, [("z", "2", "view", datetime(2026, 11, 20, 11, tzinfo=UTC), {})])

    assert [s.endpoints for s in funnel(project.id, D1, D1, ["view", "cart"]).steps] == [2, 0]
    assert funnel(project.id, D1, D1, ["view", "cart"]).overall == 0.0


def test_events_without_an_endpoint_are_not_in_funnels(project):
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    record(project.id, [("", "1", "_email.send", at, {}), ("", "2", "_email.open", at + timedelta(hours=1), {})])

    assert [s.endpoints for s in funnel(project.id, D1, D1, ["_email.send", "_email.open"]).steps] == [0, 0]


def test_funnel_questions_it_cannot_answer(project):
    with pytest.raises(ExplorerError, match="2 to 5 steps"):
        funnel(project.id, D1, D1, ["view"])
    with pytest.raises(ExplorerError, match="2 to 5 steps"):
        funnel(project.id, D1, D1, ["a", "b", "c", "d", "e", "f"])
    with pytest.raises(ExplorerError, match="same event type"):
        funnel(project.id, D1, D1, ["view", "view"])
    with pytest.raises(ExplorerError, match="at most 92"):
        funnel(project.id, D1, D1 + timedelta(days=100), ["view", "cart"])


# Pages


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    return client


def page(client, name: str, **params) -> str:
    response = client.get(reverse(f"audience:{name}"), params)
    assert response.status_code == 200
    return response.content.decode()


def download(client, name: str, **params) -> list[list[str]]:
    response = client.get(reverse(f"audience:{name}"), params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def table_rows(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in rows
    ]


def test_explorer_page_shows_counts_per_day_and_type_with_a_chart(pinpoint, project, signed_in):
    put(
        pinpoint,
        project,
        {
            "a": [
                ("pageView", "2026-11-20T10:00:00Z"),
                ("pageView", "2026-11-21T10:00:00Z"),
                ("purchase", "2026-11-21T11:00:00Z"),
            ]
        },
    )

    html = page(signed_in, "events", start="2026-11-20", end="2026-11-22")

    assert table_rows(html, "days-table") == [
        ["Fri 20 Nov 2026", "1", "0"],
        ["Sat 21 Nov 2026", "1", "1"],
        ["Sun 22 Nov 2026", "0", "0"],
    ]
    assert table_rows(html, "types-table") == [["pageView", "2"], ["purchase", "1"]]
    chart = json.loads(re.search(r'<script id="counts-data" type="application/json">(.*?)</script>', html).group(1))
    assert chart == {
        "labels": ["2026-11-20", "2026-11-21", "2026-11-22"],
        "datasets": [{"label": "pageView", "data": [1, 1, 0]}, {"label": "purchase", "data": [0, 1, 0]}],
    }
    assert "read the raw events" not in html
    assert 'href="/events/" aria-current="page">Events</a>' in html


def test_explorer_page_defaults_to_the_last_30_days(pinpoint, project, signed_in):
    html = page(signed_in, "events")

    assert "No events yet" in html  # nothing stored yet
    put(pinpoint, project, {"a": [("pageView", datetime.now(UTC).isoformat())]})

    html = page(signed_in, "events")

    rows = table_rows(html, "days-table")
    assert len(rows) == 30
    assert rows[-1][1] == "1"


def test_explorer_page_with_an_attribute_filter_says_it_reads_the_raw_events(pinpoint, project, signed_in):
    put(
        pinpoint,
        project,
        {"a": [("pageView", "2026-11-20T10:00:00Z", {"plan": "pro"}), ("pageView", "2026-11-20T11:00:00Z")]},
    )

    html = page(signed_in, "events", start="2026-11-20", end="2026-11-20", attribute="plan", value="pro")

    assert "Attribute-filtered counts read the raw events." in html
    assert table_rows(html, "types-table") == [["pageView", "1"]]


def test_explorer_page_chosen_types_are_listed_even_without_events(pinpoint, project, signed_in):
    put(pinpoint, project, {"a": [("pageView", "2026-11-20T10:00:00Z"), ("purchase", "2026-11-25T10:00:00Z")]})

    html = page(signed_in, "events", start="2026-11-20", end="2026-11-20", types=["purchase", "pageView"])

    assert table_rows(html, "types-table") == [["pageView", "1"], ["purchase", "0"]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-11-20", "end": "2027-03-01"}, "The range is 102 days; at most 92."),
        ({"start": "2026-11-21", "end": "2026-11-20"}, "The range ends before it starts."),
        ({"start": "yesterday", "end": "2026-11-20"}, "Enter a valid date."),
        ({"start": "2026-11-20", "end": "2026-11-20", "attribute": "plan"}, "Give the value the attribute must have"),
        ({"start": "2026-11-20", "end": "2026-11-20", "value": "pro"}, "Give the attribute&#x27;s name"),
        ({"start": "2026-11-20", "end": "2026-11-20", "types": ["nope"]}, "Select a valid choice. nope is not one"),
    ],
)
def test_explorer_page_explains_bad_choices(pinpoint, project, signed_in, params, message):
    put(pinpoint, project, {"a": [("pageView", "2026-11-20T10:00:00Z")]})

    html = page(signed_in, "events", **params)

    assert message in html
    assert 'id="days-table"' not in html


def test_explorer_page_refuses_more_than_10_types(project, signed_in):
    record(project.id, [("a", f"{n}", f"type{n}", datetime(2026, 11, 20, tzinfo=UTC), {}) for n in range(11)])

    html = page(signed_in, "events", start="2026-11-20", end="2026-11-20", types=[f"type{n}" for n in range(11)])

    assert "Choose at most 10 event types (11 chosen)." in html


def test_explorer_charts_the_10_most_frequent_types_and_lists_them_all(project, signed_in):
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    record(project.id, [("a", f"{n}-{k}", f"type{n:02}", at, {}) for n in range(12) for k in range(n + 1)])

    html = page(signed_in, "events", start="2026-11-20", end="2026-11-20")

    header = re.search(r'id="days-table".*?<thead>(.*?)</thead>', html, re.S).group(1)
    assert re.findall(r"<code>(type\d+)</code>", header) == [f"type{n:02}" for n in range(11, 1, -1)]
    assert len(table_rows(html, "types-table")) == 12


def test_csv_downloads_hold_the_tables_with_formula_like_cells_neutralised(pinpoint, project, signed_in):
    put(
        pinpoint,
        project,
        {
            "a": [
                ("=HYPERLINK(1)", "2026-11-20T10:00:00Z", {"@ref": "+cmd"}),
                ("pageView", "2026-11-21T10:00:00Z", {"@ref": "+cmd"}),
                ("pageView", "2026-11-21T11:00:00Z"),
            ]
        },
    )
    query = {"start": "2026-11-20", "end": "2026-11-21"}

    days = download(signed_in, "events_days_csv", **query)
    types = download(signed_in, "events_types_csv", **query)
    filtered = download(signed_in, "events_types_csv", **query, attribute="@ref", value="+cmd")

    assert days == [["day", "pageView", "'=HYPERLINK(1)"], ["2026-11-20", "0", "1"], ["2026-11-21", "2", "0"]]
    assert types == [
        ["event_type", "events", "from_day", "to_day"],
        ["pageView", "2", "2026-11-20", "2026-11-21"],
        ["'=HYPERLINK(1)", "1", "2026-11-20", "2026-11-21"],
    ]
    assert filtered == [
        ["event_type", "events", "from_day", "to_day", "attribute", "value"],
        ["'=HYPERLINK(1)", "1", "2026-11-20", "2026-11-21", "'@ref", "'+cmd"],
        ["pageView", "1", "2026-11-20", "2026-11-21", "'@ref", "'+cmd"],
    ]


def test_csv_download_with_a_bad_query_is_a_400_naming_the_problem(project, signed_in):
    record(project.id, [("a", "1", "pageView", datetime(2026, 11, 20, tzinfo=UTC), {})])

    response = signed_in.get(reverse("audience:events_days_csv"), {"start": "2026-11-21", "end": "2026-11-20"})
    funnel_response = signed_in.get(reverse("audience:events_funnel_csv"), {"step_1": "pageView"})

    assert response.status_code == 400
    assert response.content.decode() == "The range ends before it starts."
    assert funnel_response.status_code == 400
    assert "Choose at least 2 steps" in funnel_response.content.decode()


def test_pages_show_only_the_current_projects_events(pinpoint, project, signed_in):
    put(pinpoint, project, {"a": [("view", "2026-11-20T10:00:00Z")]})
    other = ProjectFactory()
    record(other.id, [("a", "1", "other-secret-type", datetime(2026, 11, 20, 11, tzinfo=UTC), {})])
    record(other.id, [("a", "2", "view", datetime(2026, 11, 20, 11, tzinfo=UTC), {})])

    html = page(signed_in, "events", start="2026-11-20", end="2026-11-20")
    funnel_html = page(signed_in, "events_funnel", start="2026-11-20", end="2026-11-20")
    refused = page(
        signed_in, "events_funnel", start="2026-11-20", end="2026-11-20", step_1="view", step_2="other-secret-type"
    )

    assert "other-secret-type" not in html
    assert table_rows(html, "types-table") == [["view", "1"]]
    assert "other-secret-type" not in funnel_html
    assert "Select a valid choice. other-secret-type is not one of the available choices." in refused


def test_funnel_page_shows_the_steps_with_conversion_and_a_csv(pinpoint, project, signed_in):
    put(pinpoint, project, FUNNEL_EVENTS)
    query = {"start": "2026-11-20", "end": "2026-11-22", "step_1": "view", "step_2": "cart", "step_3": "buy"}

    html = page(signed_in, "events_funnel", **query)
    windowed = page(signed_in, "events_funnel", **query, window_days="1")
    rows = download(signed_in, "events_funnel_csv", **query, window_days="1")

    assert table_rows(html, "funnel-table") == [
        ["1. view", "8", "—", "—", "100.0%"],
        ["2. cart", "6", "2", "75.0%", "75.0%"],
        ["3. buy", "3", "3", "50.0%", "37.5%"],
    ]
    assert "<dt>Overall conversion</dt><dd>37.5%</dd>" in html
    chart = json.loads(re.search(r'<script id="funnel-data" type="application/json">(.*?)</script>', html).group(1))
    assert chart == {"labels": ["1. view", "2. cart", "3. buy"], "data": [8, 6, 3]}
    assert [row[1] for row in table_rows(windowed, "funnel-table")] == ["8", "5", "1"]
    assert "every step within 1 day of step 1" in windowed
    assert rows == [
        [
            "step",
            "event_type",
            "endpoints",
            "dropped",
            "percent_of_previous_step",
            "percent_of_step_1",
            "from_day",
            "to_day",
            "window_days",
        ],
        ["1", "view", "8", "", "", "100.0", "2026-11-20", "2026-11-22", "1"],
        ["2", "cart", "5", "3", "62.5", "62.5", "2026-11-20", "2026-11-22", "1"],
        ["3", "buy", "1", "4", "20.0", "12.5", "2026-11-20", "2026-11-22", "1"],
    ]


def test_funnel_csv_neutralises_a_formula_like_event_type(project, signed_in):
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    record(project.id, [("a", "1", "-2+3", at, {}), ("a", "2", "@SUM(A1)", at + timedelta(minutes=1), {})])

    rows = download(
        signed_in, "events_funnel_csv", start="2026-11-20", end="2026-11-20", step_1="-2+3", step_2="@SUM(A1)"
    )

    assert [row[:3] for row in rows[1:]] == [["1", "'-2+3", "1"], ["2", "'@SUM(A1)", "1"]]


def test_funnel_page_first_shows_only_the_form(pinpoint, project, signed_in):
    put(pinpoint, project, FUNNEL_EVENTS)

    html = page(signed_in, "events_funnel")

    assert 'name="step_5"' in html
    assert 'id="funnel-table"' not in html
    assert "errorlist" not in html and "form-errors" not in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"step_1": "view"}, "Choose at least 2 steps"),
        ({"step_1": "view", "step_3": "cart"}, "Choose this step&#x27;s event type: steps follow each other."),
        ({"step_1": "view", "step_2": "view"}, "The same event type as the step before"),
        ({"step_1": "view", "step_2": "cart", "window_days": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"step_1": "view", "step_2": "cart", "window_days": "two"}, "Enter a whole number."),
        ({"step_1": "view", "step_2": "cart", "start": "2026-01-01", "end": "2026-11-20"}, "at most 92"),
    ],
)
def test_funnel_page_explains_bad_choices(pinpoint, project, signed_in, params, message):
    put(pinpoint, project, FUNNEL_EVENTS)

    html = page(signed_in, "events_funnel", **params)

    assert message in html
    assert 'id="funnel-table"' not in html


def test_explorer_pages_need_a_signed_in_member(client, project):
    response = client.get(reverse("audience:events"))
    csv_response = client.get(reverse("audience:events_days_csv"))

    assert response.status_code == 302
    assert csv_response.status_code == 302


def test_explorer_and_funnel_pages_make_a_fixed_number_of_queries(project, signed_in, django_assert_max_num_queries):
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    record(project.id, [(f"e{n % 7}", f"{n}", f"type{n % 30}", at + timedelta(hours=n), {}) for n in range(300)])
    query = {"start": "2026-11-20", "end": "2026-12-31"}

    with django_assert_max_num_queries(12):
        page(signed_in, "events", **query)
    with django_assert_max_num_queries(12):
        page(signed_in, "events", **query, attribute="plan", value="pro")
    with django_assert_max_num_queries(12):
        page(signed_in, "events_funnel", **query, step_1="type1", step_2="type2", step_3="type3")
