"""A campaign to N endpoints, from the scheduler tick to the last delivery SENT, against the raw cost
of reading the same segment and inserting the same number of outbox rows.

    .venv/bin/python bench/campaign_send.py [endpoints ...]     (default: 1000000)

Needs PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to
create a throw-away database per size, dropped afterwards. In a fresh Django process on it:

- setup (not timed): migrate, a project with an EMAIL channel, N EMAIL endpoints written with COPY
  (attributes FirstName and Plan=pro, cohort_id = audience.models.cohort_of), ANALYZE; a dynamic
  segment Plan INCLUSIVE "pro" (every endpoint), and an IMMEDIATE campaign through campaign_create
  whose email is personalised ("Hi {{Attributes.FirstName}}" in subject, text and HTML).
- raw, in that database, before ours: (1) read: the segment's compiled SQL (segment_members, the
  columns a send needs) through a psycopg server-side cursor, every row fetched; (2) insert:
  `INSERT INTO campaigns_delivery … SELECT` of N equivalent outbox rows (subject/text/html built in
  SQL from the same attribute, a message id per row) from that same SQL; then the rows are deleted
  and the table vacuumed. raw = read + insert, both in one process with no Python per row. (3) +events: also
  `INSERT … SELECT` of the 2 N events ours stores (`_campaign.send` and `_email.send` per
  recipient, 5 attributes each), then deleted: raw + events is the floor of everything ours writes
  but the SENT updates and the counters.
- ours: the clock starts, `campaigns_start_due()` (the scheduler tick: the run and its activity,
  the run's task enqueued), and a real django-q2 cluster (`manage.py qcluster`, ORM broker,
  ENGAGE_WORKERS=2) runs the run steps (keyset batches of 1,000: decisions, Delivery rows,
  `_campaign.send` events, counters, send tasks of 200 ids) and the outbox batches (claim, render
  nothing more, send, record, `_email.send` events) through EMAIL_BACKEND dummy (nothing leaves;
  the rows end SENT). The clock stops when the run is COMPLETED and no row is QUEUED or SENDING
  (polled every second through the outbox's partial indexes); then every row must be SENT.

Reported: seconds (and when the run itself was COMPLETED: every Delivery row written), messages
per second, ours / raw, peak RSS (VmHWM of the largest process: the bench process, the cluster and
each of its workers, sampled every second, plus the cluster's waited-for children) and the
1-minute load average (mean and max over ours).
"""

import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _scratch import ROOT, preamble, run_child  # bench/ is sys.path[0]

FROM = "news@example.com"
STALL = 180  # seconds without progress (a lost worker): the measurement is abandoned
NOW = datetime(2026, 11, 1, tzinfo=UTC)
EMAIL = {
    "EmailMessage": {
        "Title": "Hi {{Attributes.FirstName}}, our autumn sale starts today",
        "Body": "Hello {{Attributes.FirstName}},\n\nEverything in the shop is 20% off until Sunday.\n\nThe team",
        "HtmlBody": "<html><body><h1>Hello {{Attributes.FirstName}}</h1>"
        "<p>Everything in the shop is <b>20% off</b> until Sunday.</p><p>The team</p></body></html>",
    }
}


def vm_hwm_kb(pid: int | str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(root: int) -> list[int]:
    """The processes under `root` (the cluster's workers, monitor, pusher...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child_pid in parents.get(todo.pop(), []):
            found.append(child_pid)
            todo.append(child_pid)
    return found


EMPTY = ("",) * 8  # user_id, app_version, locale, make, model, model_version, platform, platform_version
ZONE = ("UTC", "", "US")  # timezone, city, country
TAIL = (None, None, "", "", "NONE", "ACTIVE", NOW, NOW, "")  # latitude … request_id


def load_endpoints(total: int, project_id: str) -> None:
    from django.db import connection

    from audience.models import cohort_of

    columns = (
        "project_id, endpoint_id, key, channel_type, address, attributes, metrics, user_id, app_version, locale, make, "
        "model, model_version, platform, platform_version, timezone, city, country, latitude, longitude, postal_code, "
        "region, opt_out, status, effective_date, creation_date, request_id, cohort_id, last_active_at"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY audience_endpoint ({columns}) FROM STDIN") as copy:
        for i in range(total):
            key = f"ep{i:08d}"
            attributes = json.dumps({"FirstName": [f"Name{i}"], "Plan": ["pro"]})
            fixed = (project_id, key, key, "EMAIL", f"{key}@example.org", attributes, "{}")
            copy.write_row((*fixed, *EMPTY, *ZONE, *TAIL, cohort_of(key), None))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audience_endpoint")


DELIVERY_COLUMNS = (
    "project_id, channel, address, endpoint_key, user_id, source, request_id, from_address, subject, text, html, "
    "headers, payload, status, attempts, next_attempt_at, lease_until, lease_token, message_id, provider_message_id, "
    "last_error, created_at, updated_at, sent_at, campaign_id, campaign_activity_id, treatment_id, expires_at"
)
EVENT_COLUMNS = (
    "project_id, endpoint_key, client_event_id, event_type, timestamp, received_at, attributes, metrics, session_id, "
    "session_start, session_stop, session_duration, app_package_name, app_title, app_version_code, "
    "client_sdk_version, sdk_name, stream_pending"
)


def other_fields(model, named: str) -> list:
    """The model's columns the raw insert does not name (added since): filled with '' or NULL."""
    names = {"id", *named.split(", ")}
    return [f for f in model._meta.concrete_fields if f.column not in names]


def other_columns(model, named: str) -> str:
    return "".join(f", {f.column}" for f in other_fields(model, named))


def other_values(model, named: str) -> str:
    return "".join(", NULL" if f.null else ", ''" for f in other_fields(model, named))


def raw(members, campaign, activity_id: str, total: int) -> dict:
    """The raw read of the segment and the raw insert of `total` outbox rows (see the module doc)."""
    import psycopg

    from audience.models import Event
    from campaigns.models import Delivery

    columns = members.order_by("key").values_list("key", "cohort_id", "address", "attributes", "user_id")
    sql, params = columns.query.sql_with_params()
    pg = psycopg.connect(os.environ["DATABASE_URL"])
    started = time.perf_counter()
    read = 0
    with pg.cursor(name="segment_read") as cursor:
        cursor.itersize = 2000
        cursor.execute(sql, params)
        for _row in cursor:
            read += 1
    pg.commit()
    read_seconds = time.perf_counter() - started
    assert read == total, read
    insert = f"""
        INSERT INTO campaigns_delivery ({DELIVERY_COLUMNS}{other_columns(Delivery, DELIVERY_COLUMNS)})
        SELECT %s, 'EMAIL', m.address, m.key, m.user_id, 'CAMPAIGN', '', %s,
            'Hi ' || (m.attributes -> 'FirstName' ->> 0) || ', our autumn sale starts today',
            'Hello ' || (m.attributes -> 'FirstName' ->> 0)
                || E',\\n\\nEverything in the shop is 20%% off until Sunday.\\n\\nThe team',
            '<html><body><h1>Hello ' || (m.attributes -> 'FirstName' ->> 0) || '</h1><p>Everything in the shop is '
                '<b>20%% off</b> until Sunday.</p><p>The team</p></body></html>',
            '[]'::jsonb, '{{}}'::jsonb, 'QUEUED', 0, now(), NULL, '', '<' || md5(%s || ':' || m.key) || '@example.com>',
            '', '', now(), now(), NULL, %s, %s, '0', NULL{other_values(Delivery, DELIVERY_COLUMNS)}
        FROM ({sql}) AS m
    """
    started = time.perf_counter()
    with pg.cursor() as cursor:
        cursor.execute(insert, [campaign.project_id, FROM, activity_id, campaign.id, activity_id, *params])
        inserted = cursor.rowcount
    pg.commit()
    insert_seconds = time.perf_counter() - started
    assert inserted == total, inserted
    events = f"""
        INSERT INTO audience_event ({EVENT_COLUMNS}{other_columns(Event, EVENT_COLUMNS)})
        SELECT %s, m.key, %s || ':' || m.key || t.suffix, t.type, now(), now(),
            jsonb_build_object('campaign_id', %s::text, 'campaign_activity_id', %s::text, 'treatment_id', '0',
                'delivery_type', 'EMAIL', 'campaign_send_status', 'SUCCESS'),
            '{{}}'::jsonb, '', NULL, NULL, NULL, '', '', '', '', '', NULL{other_values(Event, EVENT_COLUMNS)}
        FROM ({sql}) AS m CROSS JOIN (VALUES ('_campaign.send', ''), ('_email.send', ':email')) AS t (type, suffix)
    """
    started = time.perf_counter()
    with pg.cursor() as cursor:
        cursor.execute(events, [campaign.project_id, activity_id, campaign.id, activity_id, *params])
        stored = cursor.rowcount
    pg.commit()
    events_seconds = time.perf_counter() - started
    assert stored == 2 * total, stored
    with pg.cursor() as cursor:
        cursor.execute("DELETE FROM audience_event")
    pg.commit()
    with pg.cursor() as cursor:
        cursor.execute("DELETE FROM campaigns_delivery")
    pg.commit()
    pg.autocommit = True
    pg.execute("VACUUM ANALYZE campaigns_delivery")
    pg.execute("VACUUM ANALYZE audience_event")
    pg.close()
    return {"read": read_seconds, "insert": insert_seconds, "events": events_seconds}


def child(total: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    from audience.segments import segment_create, segment_members
    from campaigns.campaigns import campaign_create
    from campaigns.channels import channel_update
    from campaigns.models import CampaignActivity, CampaignRun, Delivery, DeliveryStatus, RunState
    from campaigns.runs import campaigns_start_due
    from projects.services import project_create

    call_command("migrate", verbosity=0)
    project = project_create(name="Bench", owner=get_user_model().objects.create_user("bench"))
    channel_update(project, "EMAIL", {"Enabled": True, "FromAddress": FROM, "Identity": "example.com"}, by="bench")
    started = time.perf_counter()
    load_endpoints(total, project.id)
    loaded = time.perf_counter() - started
    segment = segment_create(
        project, name="Everyone", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    )
    campaign = campaign_create(
        project,
        {
            "Name": "Autumn sale",
            "SegmentId": segment.id,
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
            "MessageConfiguration": EMAIL,
        },
    )
    raw_result = raw(segment_members(project, segment), campaign, "0" * 32, total)

    loads: list[float] = []
    peak_kb = 0
    run_done = None
    progress = ("", -1, time.monotonic())  # run cursor, rows waiting, since when
    started = time.perf_counter()
    made = campaigns_start_due()
    assert len(made) == 1, made
    connection.close()  # the cluster forks: no shared connection
    cluster = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=os.environ)
    try:
        while True:
            time.sleep(1)
            if cluster.poll() is not None:
                raise SystemExit(f"qcluster ended with {cluster.returncode}")
            loads.append(os.getloadavg()[0])
            peak_kb = max([peak_kb, vm_hwm_kb(cluster.pid)] + [vm_hwm_kb(pid) for pid in descendants(cluster.pid)])
            run = CampaignRun.objects.get(pk=made[0])
            pending = Delivery.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]).count()
            if (run.cursor, pending) != progress[:2]:
                progress = (run.cursor, pending, time.monotonic())
            elif time.monotonic() - progress[2] > STALL:
                raise SystemExit(f"no progress for {STALL} s (run at {run.cursor}, {pending} rows waiting)")
            if run.state != RunState.COMPLETED:
                continue
            run_done = run_done or time.perf_counter() - started
            if not pending:
                break
        elapsed = time.perf_counter() - started
    finally:
        cluster.terminate()
        cluster.wait(120)
    statuses = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())
    assert statuses == {DeliveryStatus.SENT: total}, statuses
    activity = CampaignActivity.objects.get(run_id=made[0])
    assert activity.successful_endpoint_count == total, activity.execution_metrics
    peak_kb = max(
        peak_kb, vm_hwm_kb("self"), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )  # the cluster's waited-for children (a recycled worker's peak is kept there)
    print(
        json.dumps(
            {
                "load_endpoints": loaded,
                "raw_read": raw_result["read"],
                "raw_insert": raw_result["insert"],
                "raw_events": raw_result["events"],
                "ours": elapsed,
                "run_done": run_done,
                "rss_mb": peak_kb / 1024,
                "load_mean": sum(loads) / len(loads),
                "load_max": max(loads),
            }
        )
    )


def measure(total: int) -> dict:
    return run_child(
        __file__,
        "campaign",
        total,
        {
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "ENGAGE_PUBLIC_URL": "",
            "ENGAGE_QUEUE_SYNC": "0",
            "ENGAGE_WORKERS": "2",
        },
    )


def main(sizes: list[int]) -> None:
    preamble()
    header = ("endpoints", "raw read", "raw insert", "raw", "+events", "run done", "ours", "msg/s", "ours/raw")
    header += ("/ +events", "peak RSS", "load")
    print("  ".join(f"{h:>10}" for h in header))
    for total in sizes:
        r = measure(total)
        raw_seconds = r["raw_read"] + r["raw_insert"]
        cells = (
            f"{total:,}",
            f"{r['raw_read']:.1f} s",
            f"{r['raw_insert']:.1f} s",
            f"{raw_seconds:.1f} s",
            f"{raw_seconds + r['raw_events']:.1f} s",
            f"{r['run_done']:.1f} s",
            f"{r['ours']:.1f} s",
            f"{total / r['ours']:,.0f}",
            f"{r['ours'] / raw_seconds:.1f}x",
            f"{r['ours'] / (raw_seconds + r['raw_events']):.1f}x",
            f"{r['rss_mb']:.0f} MB",
            f"{r['load_mean']:.1f}/{r['load_max']:.1f}",
        )
        print("  ".join(f"{c:>10}" for c in cells), flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("run done: when the run was COMPLETED (every Delivery row written); ours: the last row SENT")
    print("load: the 1-minute load average during ours, mean/max; endpoints loaded with COPY (not timed)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        main([int(a) for a in sys.argv[1:]] or [1_000_000])
