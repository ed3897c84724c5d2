"""N participants through a 5-activity journey (email → wait 1 day → yes/no split on "opened the
email" → SMS / exit) with time advanced by explicit `now` arguments, against the same rows written
by set-based SQL.

    .venv/bin/python bench/journey_advance.py [endpoints ...]     (default: 100000)
    BENCH_PROFILE=phase1 .venv/bin/python bench/journey_advance.py 5000   # + cProfile of ours' phase 1 (or phase2)

Needs PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to
create a throw-away database per size, dropped afterwards. In a fresh Django process on it:

- setup (not timed): migrate, a project with EMAIL and SMS channels, an EMAIL template "Hi
  {{Attributes.FirstName}}" and an SMS template, N EMAIL endpoints written with COPY, ANALYZE, a
  dynamic segment Plan INCLUSIVE "pro" (every endpoint), and two journeys with the same definition:
  ours (ACTIVE, SegmentStartCondition) and raw's (DRAFT: the engine never sees it).
- The journey: mail (EMAIL) → pause (Wait P1D) → split (ConditionalSplit: an `_email.open` event
  of the participant's message of "mail", EventCondition with MessageActivity) → TRUE: text (SMS),
  FALSE: the journey ends. An endpoint has one channel (Pinpoint's model), so the openers are EMAIL
  endpoints and the SMS activity decides UNSUPPORTED_CHANNEL for them: a step and a `_journey.send`
  event, no Delivery row. Between the phases (not timed) 30 % of the "mail" deliveries get an
  `_email.open` event two hours after the send, with the attributes the tracking pixel writes
  (message_id, journey_id, journey_activity_id, journey_run_id...).
- Measured: the journey engine only, not the outbox. Its Delivery rows stay QUEUED; EMAIL_BACKEND is
  Django's dummy backend and no cluster runs, so the send tasks it enqueues (django-q2 ORM broker
  rows) are written and never run — writing them is part of ours.
  - admission: `journeys_admit_due(now)` + `run_admit` of the open runs (every member a participant).
  - phase 1 (now = T): `journey_advance(now=T)` until it moves no one: mail (Delivery, step,
    `_journey.send`), then every participant waits in "pause" (next_at = T + 1 day).
  - phase 2 (now = T + 1 day): the wait ends (step WAITED), the split (one events query per batch),
    text or the end.
- raw, in that database, before ours, on raw's journey: the same rows by set-based SQL — admission:
  `INSERT … SELECT` of the participants from the segment's compiled SQL; phase 1: one `UPDATE` of
  the participants, `INSERT … SELECT` of the steps, the Delivery rows (subject and text built in SQL)
  and the `_journey.send` events; phase 2: `INSERT … SELECT` of the WAITED, TRUE/FALSE (an EXISTS on
  the open events) and UNSUPPORTED_CHANNEL steps and their events, one `UPDATE` of the participants.
  Its rows are counted (they must equal ours'), deleted, and the tables vacuumed.

Reported per size: seconds and participants moved per second of each phase, ours / raw, peak RSS
(VmHWM of the bench process, read before ours starts and at the end), the 1-minute load average.
"""

import cProfile
import io
import json
import os
import pstats
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _scratch import preamble, run_child  # bench/ is sys.path[0]

FROM = "news@example.com"
T = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LATER = T + timedelta(days=1)
OPEN_PERCENT = 30


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1])
    return 0


EMPTY = ("",) * 8  # user_id, app_version, locale, make, model, model_version, platform, platform_version
ZONE = ("UTC", "", "US")  # timezone, city, country
TAIL = (None, None, "", "", "NONE", "ACTIVE", T - timedelta(days=3), T - timedelta(days=3), "")


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


def definition(segment_id: str) -> dict:
    opened = {
        "EventCondition": {
            "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.open"]}},
            "MessageActivity": "mail",
        }
    }
    return {
        "Name": "Welcome",
        "StartActivity": "mail",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment_id}},
        "Activities": {
            "mail": {"EMAIL": {"TemplateName": "welcome", "NextActivity": "pause"}},
            "pause": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "split"}},
            "split": {
                "ConditionalSplit": {
                    "Condition": {"Conditions": [opened], "Operator": "ALL"},
                    "TrueActivity": "text",
                }
            },
            "text": {"SMS": {"TemplateName": "text"}},
        },
    }


# -- raw: the same rows by set-based SQL ------------------------------------------------------------
EVENT_COLUMNS = (
    "project_id, endpoint_key, client_event_id, event_type, timestamp, received_at, attributes, metrics, session_id, "
    "session_start, session_stop, session_duration, app_package_name, app_title, app_version_code, "
    "client_sdk_version, sdk_name, stream_pending"
)
DELIVERY_COLUMNS = (
    "project_id, channel, address, endpoint_key, user_id, source, request_id, from_address, subject, text, html, "
    "headers, payload, status, attempts, next_attempt_at, lease_until, lease_token, message_id, provider_message_id, "
    "last_error, created_at, updated_at, sent_at, journey_id, journey_activity_id, journey_run_id"
)
PARTICIPANT_COLUMNS = (
    "journey_id, run_id, endpoint_key, entry, activity_id, state, next_at, context, lease_until, lease_token, "
    "entered_at, updated_at"
)
STEP_COLUMNS = "participant_id, journey_id, run_id, activity_id, activity_type, status, branch, at"


def other_fields(model, named: str) -> list:
    """The model's columns the raw inserts do not name (added since): filled with '' or NULL."""
    names = {"id", *named.split(", ")}
    return [f for f in model._meta.concrete_fields if f.column not in names]


def others(model, named: str) -> tuple[str, str]:
    fields = other_fields(model, named)
    return "".join(f", {f.column}" for f in fields), "".join(", NULL" if f.null else ", ''" for f in fields)


def send_events_sql(activity: str, kind: str, status: str, where: str) -> str:
    """`_journey.send` events of the raw journey's participants at `activity` (as ours writes them)."""
    from audience.models import Event

    columns, values = others(Event, EVENT_COLUMNS)
    return f"""
        INSERT INTO audience_event ({EVENT_COLUMNS}{columns})
        SELECT j.project_id, p.endpoint_key, p.id || ':{activity}', '_journey.send', %(now)s, %(now)s,
            jsonb_build_object('journey_id', p.journey_id, 'journey_activity_id', '{activity}',
                'journey_run_id', p.run_id, 'journey_activity_type', '{kind}', 'journey_send_status', '{status}'),
            '{{}}'::jsonb, '', NULL, NULL, NULL, '', '', '', '', '', NULL{values}
        FROM journeys_journeyparticipant p JOIN journeys_journey j ON j.id = p.journey_id
        WHERE p.journey_id = %(journey)s AND {where}
    """


def opens_insert(cursor, journey_id: str) -> int:
    """30 % of the journey's "mail" deliveries get an `_email.open` two hours after the send, with the
    attributes campaigns.tracking writes (not timed: the recipients' doing)."""
    from audience.models import Event

    columns, values = others(Event, EVENT_COLUMNS)
    cursor.execute(
        f"""
        INSERT INTO audience_event ({EVENT_COLUMNS}{columns})
        SELECT d.project_id, d.endpoint_key, d.id || ':_email.open', '_email.open', %(at)s, %(at)s,
            jsonb_build_object('message_id', trim(both '<>' from d.message_id), 'from_address', d.from_address,
                'destination', d.address, 'source', d.source, 'request_id', d.request_id,
                'journey_id', d.journey_id, 'journey_activity_id', d.journey_activity_id,
                'journey_run_id', d.journey_run_id, 'feedback', 'opened'),
            '{{}}'::jsonb, '', NULL, NULL, NULL, '', '', '', '', '', NULL{values}
        FROM campaigns_delivery d
        WHERE d.journey_id = %(journey)s AND d.journey_activity_id = 'mail' AND d.id %% 100 < {OPEN_PERCENT}
        """,
        {"at": T + timedelta(hours=2), "journey": journey_id},
    )
    return cursor.rowcount


def raw(journey, run, members) -> dict:
    from django.db import connection, transaction

    from campaigns.models import Delivery
    from journeys.models import JourneyParticipant

    sql, params = members.order_by().values_list("key", "address", "attributes", "user_id").query.sql_with_params()
    p_cols, p_vals = others(JourneyParticipant, PARTICIPANT_COLUMNS)
    d_cols, d_vals = others(Delivery, DELIVERY_COLUMNS)
    args = {"journey": journey.id, "run": run.id, "now": T, "later": LATER, "project": journey.project_id}
    seconds = {}

    def timed(name: str, statements: list[tuple[str, object]]) -> None:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for statement, statement_params in statements:
                cursor.execute(statement, statement_params)
        seconds[name] = time.perf_counter() - started

    # %(name)s and the segment SQL's positional %s do not mix: the segment SQL is inlined by mogrify.
    with connection.cursor() as cursor:
        segment_sql = cursor.cursor.mogrify(sql, params)
    timed(
        "admission",
        [
            (
                f"""INSERT INTO journeys_journeyparticipant ({PARTICIPANT_COLUMNS}{p_cols})
                SELECT %(journey)s, %(run)s, m.key, 1, 'mail', 'ACTIVE', %(now)s, '{{}}'::jsonb, NULL, '',
                    %(now)s, %(now)s{p_vals}
                FROM ({segment_sql.replace("%", "%%")}) AS m""",
                args,
            )
        ],
    )
    mine = "p.journey_id = %(journey)s"
    timed(
        "phase1",
        [
            (
                f"""INSERT INTO journeys_journeystep ({STEP_COLUMNS})
                SELECT p.id, p.journey_id, p.run_id, 'mail', 'EMAIL', 'SUCCESS', 'pause', %(now)s
                FROM journeys_journeyparticipant p WHERE {mine}""",
                args,
            ),
            (
                f"""INSERT INTO campaigns_delivery ({DELIVERY_COLUMNS}{d_cols})
                SELECT %(project)s, 'EMAIL', e.address, e.key, e.user_id, 'JOURNEY', '', '{FROM}',
                    'Hi ' || (e.attributes -> 'FirstName' ->> 0), 'Hello!', '', '[]'::jsonb, '{{}}'::jsonb,
                    'QUEUED', 0, %(now)s, NULL, '',
                    '<' || left(encode(sha256((p.id || ':mail')::bytea), 'hex'), 32) || '@example.com>', '', '',
                    %(now)s, %(now)s, NULL, p.journey_id, 'mail', p.run_id{d_vals}
                FROM journeys_journeyparticipant p
                JOIN audience_endpoint e ON e.project_id = %(project)s AND e.key = p.endpoint_key
                WHERE {mine}""",
                args,
            ),
            (send_events_sql("mail", "EMAIL", "SUCCESS", mine), args),
            (
                f"""UPDATE journeys_journeyparticipant p SET activity_id = 'pause', next_at = %(later)s,
                    context = '{{"wait": "pause"}}'::jsonb, updated_at = %(now)s WHERE {mine}""",
                args,
            ),
        ],
    )
    with connection.cursor() as cursor:
        opened = opens_insert(cursor, journey.id)
    later = {**args, "now": LATER}
    # The split's condition once for the batch: who opened their "mail" message since they entered.
    opened_sql = """CREATE TEMP TABLE opened ON COMMIT DROP AS
        WITH o AS MATERIALIZED (
            SELECT endpoint_key, timestamp FROM audience_event
            WHERE project_id = %(project)s AND event_type = '_email.open'
                AND attributes ->> 'journey_id' = %(journey)s AND attributes ->> 'journey_activity_id' = 'mail')
        SELECT DISTINCT p.id FROM journeys_journeyparticipant p
        JOIN o ON o.endpoint_key = p.endpoint_key AND o.timestamp >= p.entered_at
        WHERE p.journey_id = %(journey)s"""
    exists = "p.id IN (SELECT id FROM opened)"
    timed(
        "phase2",
        [
            (opened_sql, later),
            (
                f"""INSERT INTO journeys_journeystep ({STEP_COLUMNS})
                SELECT p.id, p.journey_id, p.run_id, 'pause', 'WAIT', 'WAITED', 'split', %(now)s
                FROM journeys_journeyparticipant p WHERE {mine}""",
                later,
            ),
            (
                f"""INSERT INTO journeys_journeystep ({STEP_COLUMNS})
                SELECT p.id, p.journey_id, p.run_id, 'split', 'CONDITIONAL_SPLIT',
                    CASE WHEN {exists} THEN 'TRUE' ELSE 'FALSE' END, CASE WHEN {exists} THEN 'text' ELSE '' END,
                    %(now)s
                FROM journeys_journeyparticipant p WHERE {mine}""",
                later,
            ),
            (
                f"""INSERT INTO journeys_journeystep ({STEP_COLUMNS})
                SELECT p.id, p.journey_id, p.run_id, 'text', 'SMS', 'UNSUPPORTED_CHANNEL', '', %(now)s
                FROM journeys_journeyparticipant p WHERE {mine} AND {exists}""",
                later,
            ),
            (send_events_sql("text", "SMS", "UNSUPPORTED_CHANNEL", f"{mine} AND {exists}"), later),
            (
                f"""UPDATE journeys_journeyparticipant p SET state = 'DONE',
                    activity_id = CASE WHEN {exists} THEN 'text' ELSE 'split' END,
                    next_at = NULL, context = '{{}}'::jsonb, updated_at = %(now)s WHERE {mine}""",
                later,
            ),
        ],
    )
    counts = rows_of(journey.id)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audience_event WHERE attributes ->> 'journey_id' = %s", [journey.id])
        cursor.execute("DELETE FROM campaigns_delivery WHERE journey_id = %s", [journey.id])
        cursor.execute("DELETE FROM journeys_journeystep WHERE journey_id = %s", [journey.id])
        cursor.execute("DELETE FROM journeys_journeyparticipant WHERE journey_id = %s", [journey.id])
        for table in ("audience_event", "campaigns_delivery", "journeys_journeystep", "journeys_journeyparticipant"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"seconds": seconds, "counts": counts, "opened": opened}


def rows_of(journey_id: str) -> dict:
    """What a journey wrote, to compare ours with raw: steps by (activity, status), participants by
    (activity, state), deliveries by activity, `_journey.send` events by activity."""
    from django.db import connection

    queries = {
        "steps": "SELECT activity_id || ' ' || status, count(*) FROM journeys_journeystep WHERE journey_id = %s "
        "GROUP BY 1",
        "participants": "SELECT activity_id || ' ' || state, count(*) FROM journeys_journeyparticipant "
        "WHERE journey_id = %s GROUP BY 1",
        "deliveries": "SELECT journey_activity_id, count(*) FROM campaigns_delivery WHERE journey_id = %s GROUP BY 1",
        "send events": "SELECT attributes ->> 'journey_activity_id', count(*) FROM audience_event "
        "WHERE event_type = '_journey.send' AND attributes ->> 'journey_id' = %s GROUP BY 1",
    }
    counts = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, [journey_id])
            counts[name] = dict(sorted(cursor.fetchall()))
    return counts


# -- ours ---------------------------------------------------------------------------------------------
def advance_all(journey_id: str, now: datetime) -> int:
    from journeys.engine import journey_advance

    moved = 0
    while n := journey_advance(journey_id, now=now):
        moved += n
    return moved


def child(total: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from audience.segments import segment_create, segment_members
    from campaigns.channels import channel_update
    from campaigns.templates import template_create
    from journeys.engine.admission import journeys_admit_due, open_runs, run_admit
    from journeys.models import Journey, JourneyRun
    from projects.services import project_create

    call_command("migrate", verbosity=0)
    project = project_create(name="Bench", owner=get_user_model().objects.create_user("bench"))
    channel_update(project, "EMAIL", {"Enabled": True, "FromAddress": FROM, "Identity": "example.com"}, by="bench")
    channel_update(project, "SMS", {"ShortCode": "+15005550006"}, by="bench", extensions=True)
    template_create("EMAIL", "welcome", {"Subject": "Hi {{Attributes.FirstName}}", "TextPart": "Hello!"})
    template_create("SMS", "text", {"Body": "Hi {{Attributes.FirstName}}"})
    load_endpoints(total, project.id)
    segment = segment_create(
        project, name="Everyone", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    )

    def journey(state: str) -> Journey:
        return Journey.objects.create(
            project=project,
            name="Welcome",
            state=state,
            definition=definition(segment.id),
            segment=segment,
            start_time=T,
            next_refresh_at=T if state == "ACTIVE" else None,
        )

    baseline = journey("DRAFT")
    raw_run = JourneyRun.objects.create(journey=baseline, status="RUNNING", scheduled_at=T)
    raw_result = raw(baseline, raw_run, segment_members(project, segment, now=T))
    connection.close()

    ours = journey("ACTIVE")
    loads, seconds, moved = [os.getloadavg()[0]], {}, {}
    rss_before = vm_hwm_kb()
    started = time.perf_counter()
    journeys_admit_due(T)
    admitted = sum(run_admit(run_id, now=T) for run_id in open_runs(T))
    seconds["admission"], moved["admission"] = time.perf_counter() - started, admitted
    loads.append(os.getloadavg()[0])
    assert admitted == total, admitted
    profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") in ("phase1", "phase2") else None
    started = time.perf_counter()
    if profiler and os.environ["BENCH_PROFILE"] == "phase1":
        profiler.enable()
    moved["phase1"] = advance_all(ours.id, T)
    if profiler:
        profiler.disable()
    seconds["phase1"] = time.perf_counter() - started
    loads.append(os.getloadavg()[0])
    with connection.cursor() as cursor:
        opened = opens_insert(cursor, ours.id)
    started = time.perf_counter()
    if profiler and os.environ["BENCH_PROFILE"] == "phase2":
        profiler.enable()
    moved["phase2"] = advance_all(ours.id, LATER)
    if profiler:
        profiler.disable()
    seconds["phase2"] = time.perf_counter() - started
    loads.append(os.getloadavg()[0])
    counts = rows_of(ours.id)
    if counts != raw_result["counts"] or opened != raw_result["opened"]:
        raise SystemExit(f"ours and raw wrote different rows:\n{counts}\n{raw_result['counts']}")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        sys.stderr.write(out.getvalue())
    print(
        json.dumps(
            {
                "ours": seconds,
                "moved": moved,
                "raw": raw_result["seconds"],
                "counts": counts,
                "opened": opened,
                "rss_before_mb": rss_before / 1024,
                "rss_mb": vm_hwm_kb() / 1024,
                "load_mean": sum(loads) / len(loads),
                "load_max": max(loads),
            }
        )
    )


def measure(total: int) -> dict:
    return run_child(
        __file__,
        "journey",
        total,
        {
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "ENGAGE_PUBLIC_URL": "",
            "ENGAGE_QUEUE_SYNC": "0",
        },
    )


def main(sizes: list[int]) -> None:
    preamble()
    header = ("endpoints", "phase", "moved", "raw", "ours", "moved/s", "ours/raw")
    print("  ".join(f"{h:>10}" for h in header))
    for total in sizes:
        r = measure(total)
        for phase in ("admission", "phase1", "phase2", "total"):
            if phase == "total":
                raw_s, ours_s = sum(r["raw"].values()), sum(r["ours"].values())
                n = r["moved"]["phase1"] + r["moved"]["phase2"]
            else:
                raw_s, ours_s, n = r["raw"][phase], r["ours"][phase], r["moved"][phase]
            cells = (f"{total:,}", phase, f"{n:,}", f"{raw_s:.1f} s", f"{ours_s:.1f} s", f"{n / ours_s:,.0f}")
            print("  ".join(f"{c:>10}" for c in (*cells, f"{ours_s / raw_s:.1f}x")))
        print(
            f"{'':>10}  peak RSS {r['rss_mb']:.0f} MB (before ours {r['rss_before_mb']:.0f} MB); "
            f"load {r['load_mean']:.1f}/{r['load_max']:.1f}; opened {r['opened']:,}; rows {json.dumps(r['counts'])}",
            flush=True,
        )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("phase1: mail + into the wait (now = T); phase2: wait over, split, SMS or end (now = T + 1 day)")
    print("moved/s: participants a second (total: both phases' moves over all three times); load: 1-minute, mean/max")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        main([int(a) for a in sys.argv[1:]] or [100_000])
