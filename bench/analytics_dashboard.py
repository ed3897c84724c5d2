"""The project dashboard's numbers for a 30-day range of a project with N endpoints and a month of
events, from the rollup (ours) against the same numbers computed from the events with plain SQL.

    .venv/bin/python bench/analytics_dashboard.py [endpoints ...]     (default: 1000000)

Needs PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to
create a throw-away database per size, dropped afterwards. In a fresh Django process on it:

- setup: migrate, a project and its owner; N EMAIL endpoints written with COPY, created over the
  last 90 days (a third of them in the range); then with COPY the events of a month (2026-11-01 to
  -30, UTC), for N endpoints: a campaign's `_campaign.send` (SUCCESS, EMAIL) and `_email.send` to
  every endpoint in four weekly runs (2 N), N/100 bounces after sending, 0.2 N opens (0.18 N first
  opens, 0.02 N repeats), 0.05 N clicks, N/500 unsubscribes, and N app events (a quarter
  `_session.start`, the rest `pageView`/`addToCart`) spread over the month across N/5 endpoints.
  ANALYZE. Timed and reported, not compared: the COPY of the events, and `rollup_rebuild` — the
  rollup made from those events, as after an upgrade (live events are counted as they are stored).
- raw: the dashboard's numbers straight from audience_event and audience_endpoint with plain SQL
  GROUP BYs (`RAW_QUERIES`): per day, source and channel the sends, failures, bounces, push opens,
  opt-outs and sessions (one scan of the range); first opens and clicks per day (a GROUP BY over
  every open and click, since a first open is first ever); distinct app endpoints per day and over
  the range; new endpoints per day. Its numbers are checked equal to ours.
- ours: `dashboard_data(project, start, end)` (rollup_sum, active_endpoints, new endpoints by
  Endpoint.creation_date), and a GET of the dashboard page for that range through the Django test
  client, logged in (the page: its session, project, rendering, the tables and the chart data).
  Each is run 3 times, alternating with raw; the median is reported (and the first, cold, run).
- then an index on audience_endpoint (project_id, creation_date), which the schema does not have, is
  made and ours timed again: what it would save.

Reported: seconds of each and raw / ours, the rows the rollup holds, the 1-minute load average.
"""

import json
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta

from _scratch import preamble, run_child  # bench/ is sys.path[0]

START, END = date(2026, 11, 1), date(2026, 11, 30)
MIDNIGHT = datetime(2026, 11, 1, tzinfo=UTC)
REPEATS = 3

APP_FILTER = (
    "endpoint_key <> '' AND event_type NOT IN ('_campaign.send', '_journey.send') "
    "AND event_type NOT LIKE '\\_email.%%' AND event_type NOT LIKE '\\_SMS.%%'"
)
SOURCE = (
    "CASE WHEN COALESCE(attributes->>'campaign_id', '') <> '' THEN 'CAMPAIGN' "
    "WHEN COALESCE(attributes->>'journey_id', '') <> '' THEN 'JOURNEY' "
    "WHEN event_type LIKE '\\_email.%%' OR event_type LIKE '\\_SMS.%%' THEN 'TRANSACTIONAL' ELSE 'APP' END"
)
CHANNEL = (
    "CASE WHEN event_type LIKE '\\_email.%%' THEN 'EMAIL' WHEN event_type LIKE '\\_SMS.%%' THEN 'SMS' "
    "WHEN event_type = '_campaign.send' THEN COALESCE(attributes->>'delivery_type', '') "
    "WHEN event_type = '_journey.send' THEN COALESCE(attributes->>'journey_activity_type', '') "
    "WHEN event_type LIKE '%%opened_notification' OR event_type LIKE '%%received\\_%%' THEN 'PUSH' ELSE '' END"
)
STATUS = "COALESCE(attributes->>'campaign_send_status', attributes->>'journey_send_status', '')"
FAILED = "('FAILURE', 'FAILURE_PERMANENT', 'TRANSIENT_FAILURE', 'UNSUPPORTED_CHANNEL', 'CUSTOM_DELIVERY_FAILURE')"
IN_RANGE = "project_id = %(p)s AND timestamp >= %(since)s AND timestamp < %(until)s"
RAW_QUERIES = {
    # Sends, failures, bounces, push opens, opt-outs and sessions per day, source and channel.
    "messages": f"""
        SELECT day, source, channel,
            count(*) FILTER (WHERE event_type IN ('_email.send', '_SMS.BUFFERED')
                OR (event_type IN ('_campaign.send', '_journey.send') AND status = 'SUCCESS'
                    AND channel NOT IN ('EMAIL', 'SMS'))) AS sent,
            count(*) FILTER (WHERE (event_type IN ('_email.hardbounce', '_SMS.FAILURE') AND attributes ? 'error')
                OR (event_type IN ('_campaign.send', '_journey.send') AND status IN {FAILED})) AS failed,
            count(*) FILTER (WHERE event_type IN ('_email.hardbounce', '_SMS.FAILURE')
                AND NOT attributes ? 'error') AS bounced,
            count(*) FILTER (WHERE event_type IN ('_campaign.opened_notification',
                '_journey.opened_notification')) AS push_opens,
            count(*) FILTER (WHERE event_type IN ('_email.unsubscribe', '_SMS.OPTOUT')) AS opt_outs,
            count(*) FILTER (WHERE event_type = '_session.start') AS sessions
        FROM (SELECT (timestamp AT TIME ZONE 'UTC')::date AS day, {SOURCE} AS source, {CHANNEL} AS channel,
                {STATUS} AS status, event_type, attributes
              FROM audience_event WHERE {IN_RANGE}) AS e
        GROUP BY day, source, channel
    """,
    # A message's first open or click ever, counted on its day.
    "firsts": """
        SELECT (first AT TIME ZONE 'UTC')::date AS day, event_type, count(*)
        FROM (SELECT event_type, attributes->>'message_id' AS message, min(timestamp) AS first
              FROM audience_event
              WHERE project_id = %(p)s AND event_type IN ('_email.open', '_email.click')
                AND COALESCE(attributes->>'message_id', '') <> ''
              GROUP BY event_type, message) AS f
        WHERE first >= %(since)s AND first < %(until)s
        GROUP BY day, event_type
    """,
    "daily_active": f"""
        SELECT (timestamp AT TIME ZONE 'UTC')::date AS day, count(DISTINCT endpoint_key)
        FROM audience_event WHERE {IN_RANGE} AND {APP_FILTER} GROUP BY day
    """,
    "range_active": f"SELECT count(DISTINCT endpoint_key) FROM audience_event WHERE {IN_RANGE} AND {APP_FILTER}",
    "new_endpoints": """
        SELECT (creation_date AT TIME ZONE 'UTC')::date AS day, count(*) FROM audience_endpoint
        WHERE project_id = %(p)s AND creation_date >= %(since)s AND creation_date < %(until)s GROUP BY day
    """,
}


def at(day: int, seconds: int) -> str:
    return (MIDNIGHT + timedelta(days=day, seconds=seconds)).isoformat()


EMPTY = ("",) * 8  # user_id, app_version, locale, make, model, model_version, platform, platform_version


def load_endpoints(total: int, project_id: str) -> None:
    from django.db import connection

    from audience.models import cohort_of

    columns = (
        "project_id, endpoint_id, key, channel_type, address, attributes, metrics, user_id, app_version, locale, make, "
        "model, model_version, platform, platform_version, timezone, city, country, latitude, longitude, postal_code, "
        "region, opt_out, status, effective_date, creation_date, request_id, cohort_id, last_active_at"
    )
    end = datetime(2026, 12, 1, tzinfo=UTC)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY audience_endpoint ({columns}) FROM STDIN") as copy:
        for i in range(total):
            key = f"ep{i:08d}"
            created = end - timedelta(days=i % 90, seconds=1 + i % 86399)
            head = (project_id, key, key, "EMAIL", f"{key}@example.org", "{}", "{}", *EMPTY, "UTC", "", "US")
            copy.write_row((*head, None, None, "", "", "NONE", "ACTIVE", created, created, "", cohort_of(key), None))


def event_rows(total: int):
    """(endpoint key, event id, type, timestamp, attributes JSON) of the month (see the module doc)."""
    for i in range(total):
        key = f"ep{i:08d}"
        week = i % 4
        sent = 86400 * (7 * week + 1) + 36000 + i % 3600
        campaign = f'"campaign_id": "c1", "campaign_activity_id": "a{week}", "treatment_id": "0"'
        message = f'{campaign}, "message_id": "m{i}"'
        yield (
            key,
            "cs",
            "_campaign.send",
            sent,
            (f'{{{campaign}, "delivery_type": "EMAIL", "campaign_send_status": "SUCCESS"}}'),
        )
        yield key, "es", "_email.send", sent, f"{{{message}}}"
        if i % 100 == 7:
            yield key, "hb", "_email.hardbounce", sent + 300, f"{{{message}}}"
        if i % 50 < 9:
            yield key, "o1", "_email.open", sent + 60 * (5 + i % 2880), f"{{{message}}}"
        if i % 50 == 0:
            yield key, "o2", "_email.open", sent + 60 * (3000 + i % 600), f"{{{message}}}"
        if i % 20 == 0:
            yield key, "k1", "_email.click", sent + 60 * (10 + i % 2880), f"{{{message}}}"
        if i % 500 == 3:
            yield key, "u1", "_email.unsubscribe", sent + 60 * (20 + i % 2880), f"{{{message}}}"
    users = max(total // 5, 1)
    for j in range(total):
        key = f"ep{(j % users) * 5:08d}"
        kind = "_session.start" if j % 4 == 0 else ("pageView" if j % 4 < 3 else "addToCart")
        yield key, f"a{j}", kind, 86400 * ((j * 7919) % 30) + (j * 104729) % 86400, "{}"


def load_events(total: int, project_id: str) -> int:
    from django.db import connection

    columns = "project_id, endpoint_key, client_event_id, event_type, timestamp, received_at, attributes, metrics"
    extra = "session_id, app_package_name, app_title, app_version_code, client_sdk_version, sdk_name"
    written = 0
    received = "2026-12-01T00:00:00+00:00"
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY audience_event ({columns}, {extra}) FROM STDIN") as copy,
    ):
        lines = []
        for key, event_id, kind, seconds, attributes in event_rows(total):
            stamp = (MIDNIGHT + timedelta(seconds=seconds)).isoformat()
            lines.append(
                f"{project_id}\t{key}\t{event_id}\t{kind}\t{stamp}\t{received}\t{attributes}\t{{}}\t\t\t\t\t\t\n"
            )
            if len(lines) == 20000:
                copy.write("".join(lines))
                written += len(lines)
                lines = []
        copy.write("".join(lines))
        written += len(lines)
    return written


def raw(project_id: str) -> tuple[float, dict]:
    """The dashboard's numbers from the events with plain SQL; (seconds, numbers)."""
    import psycopg

    params = {"p": project_id, "since": MIDNIGHT, "until": datetime(2026, 12, 1, tzinfo=UTC)}
    with psycopg.connect(os.environ["DATABASE_URL"]) as pg:
        started = time.perf_counter()
        rows = {name: pg.execute(sql, params).fetchall() for name, sql in RAW_QUERIES.items()}
        seconds = time.perf_counter() - started
    numbers = {
        "sent": sum(r[3] for r in rows["messages"]),
        "failed": sum(r[4] for r in rows["messages"]),
        "bounced": sum(r[5] for r in rows["messages"]),
        "push_opens": sum(r[6] for r in rows["messages"]),
        "opt_outs": sum(r[7] for r in rows["messages"]),
        "sessions": sum(r[8] for r in rows["messages"]),
        "email_opens": sum(n for _, kind, n in rows["firsts"] if kind == "_email.open"),
        "email_clicks": sum(n for _, kind, n in rows["firsts"] if kind == "_email.click"),
        "daily_active": {str(day): n for day, n in rows["daily_active"]},
        "active_endpoints": rows["range_active"][0][0],
        "new_endpoints": {str(day): n for day, n in rows["new_endpoints"]},
    }
    return seconds, numbers


def ours_numbers(data) -> dict:
    t = data.totals
    return {
        "sent": t.sent,
        "failed": t.failed,
        "bounced": t.bounced,
        "push_opens": t.push_opens,
        "opt_outs": t.opt_outs,
        "sessions": data.sessions,
        "email_opens": t.email_opens,
        "email_clicks": t.email_clicks,
        "daily_active": {str(d.day): d.active for d in data.days if d.active},
        "active_endpoints": data.active_endpoints,
        "new_endpoints": {str(d.day): d.new_endpoints for d in data.days if d.new_endpoints},
    }


def new_endpoints_query(dashboard, project_id: str):
    """The SQL of ours' new-endpoints count, for EXPLAIN."""
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from audience.models import Endpoint

    since, until = MIDNIGHT, datetime(2026, 12, 1, tzinfo=UTC)
    rows = Endpoint.objects.filter(project_id=project_id, creation_date__gte=since, creation_date__lt=until)
    rows = rows.annotate(day=TruncDate("creation_date", tzinfo=UTC)).values("day").annotate(n=Count("*")).order_by()
    return rows.query.sql_with_params()


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def child(total: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings

    from audience.analytics import dashboard
    from audience.analytics.rollups import active_endpoints, rollup_rebuild, rollup_sum
    from audience.models import AnalyticsSeen, MetricDay
    from projects.services import project_create

    # As in the tests: the page's static URLs without a collected manifest (DEBUG stays off).
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    override_settings(STORAGES=storages).enable()
    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench")
    project = project_create(name="Bench", owner=owner)
    load_endpoints(total, project.id)
    copy_seconds, events = timed(load_events, total, project.id)
    with connection.cursor() as cursor:  # as autovacuum would have, for raw and ours alike
        cursor.execute("VACUUM ANALYZE audience_endpoint")
        cursor.execute("VACUUM ANALYZE audience_event")
    rebuild_seconds, read = timed(rollup_rebuild, project.id)
    assert read == events, (read, events)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audience_metricday")
        cursor.execute("VACUUM ANALYZE audience_analyticsseen")
    client = Client()
    client.force_login(owner)
    url = f"/?start={START.isoformat()}&end={END.isoformat()}"

    def page():
        response = client.get(url)
        assert response.status_code == 200 and b'id="table-daily"' in response.content
        return len(response.content)

    grouping = ("day", "source", "channel", "metric")

    def parts() -> dict:
        return {
            "rollup_sum": timed(rollup_sum, project.id, START, END, metrics=dashboard.METRICS, group_by=grouping)[0],
            "active_endpoints": timed(active_endpoints, project.id, START, END)[0],
            "new_endpoints": timed(dashboard._new_endpoints, project.id, START, END)[0],
        }

    runs: dict[str, list[float]] = {"raw": [], "ours": [], "page": []}
    raw_numbers = ours = None
    for _ in range(REPEATS):
        seconds, raw_numbers = raw(project.id)
        runs["raw"].append(seconds)
        seconds, ours = timed(dashboard.dashboard_data, project.id, START, END)
        runs["ours"].append(seconds)
        runs["page"].append(timed(page)[0])
    assert ours_numbers(ours) == raw_numbers, (ours_numbers(ours), raw_numbers)
    before_index = parts()
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX bench_endpoint_created ON audience_endpoint (project_id, creation_date)")
        cursor.execute("ANALYZE audience_endpoint")
    indexed = {"ours": [], "page": []}
    for _ in range(REPEATS):
        indexed["ours"].append(timed(dashboard.dashboard_data, project.id, START, END)[0])
        indexed["page"].append(timed(page)[0])
    after_index = parts()
    with connection.cursor() as cursor:
        sql, params = new_endpoints_query(dashboard, project.id)
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)
        plan = [row[0].strip() for row in cursor.fetchall()]
    print(
        json.dumps(
            {
                "events": events,
                "copy": copy_seconds,
                "rebuild": rebuild_seconds,
                "metric_rows": MetricDay.objects.filter(project=project).count(),
                "seen_rows": AnalyticsSeen.objects.filter(project=project).count(),
                "runs": runs,
                "indexed": indexed,
                "parts": before_index,
                "parts_indexed": after_index,
                "load": os.getloadavg()[0],
                "plan": plan,
                "numbers": {k: v for k, v in raw_numbers.items() if not isinstance(v, dict)},
            }
        )
    )


def measure(total: int) -> dict:
    return run_child(__file__, "dashboard", total, {"ALLOWED_HOSTS": "testserver"})


def main(sizes: list[int]) -> None:
    preamble()
    header = ("endpoints", "events", "COPY", "rebuild", "rollup rows", "raw", "ours", "raw/ours", "page")
    header += ("raw/page", "ours+idx", "page+idx")
    print("  ".join(f"{h:>11}" for h in header))
    for total in sizes:
        r = measure(total)
        raw_s, ours_s, page_s = (statistics.median(r["runs"][k]) for k in ("raw", "ours", "page"))
        cells = (
            f"{total:,}",
            f"{r['events']:,}",
            f"{r['copy']:.1f} s",
            f"{r['rebuild']:.1f} s",
            f"{r['metric_rows']:,}+{r['seen_rows']:,}",
            f"{raw_s:.2f} s",
            f"{ours_s:.3f} s",
            f"{raw_s / ours_s:.0f}x",
            f"{page_s:.3f} s",
            f"{raw_s / page_s:.0f}x",
            f"{statistics.median(r['indexed']['ours']):.3f} s",
            f"{statistics.median(r['indexed']['page']):.3f} s",
        )
        print("  ".join(f"{c:>11}" for c in cells), flush=True)
        first = ", ".join(f"{k} {v[0]:.3f} s" for k, v in r["runs"].items())
        print(f"  first (cold) runs: {first}; load at the end {r['load']:.1f}")
        for label, key in (("no index", "parts"), ("with index", "parts_indexed")):
            print(f"  ours by part, {label}: " + ", ".join(f"{k} {v:.3f} s" for k, v in r[key].items()))
        print(f"  numbers (equal in raw and ours): {r['numbers']}")
        print("  new endpoints with the index: " + " | ".join(r["plan"]))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("medians of 3 runs; rollup rows: MetricDay + AnalyticsSeen; +idx: with an index on (project, creation_date)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        main([int(arg) for arg in sys.argv[1:]] or [1_000_000])
