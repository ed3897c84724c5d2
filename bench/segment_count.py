"""Segment counts at a million endpoints: the compiled query against hand-written SQL.

    .venv/bin/python bench/segment_count.py [endpoints]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/engage_bench;
the database is created if missing). Generates the endpoints once with COPY (seeded, so every run
has the same data), then times five typical definitions: our estimate (audience.segments.estimate:
the compiled condition, grouped by channel and opt-out) and a plain COUNT through
audience.compiler against the hand-written SQL for the same set, median of 5 runs each.
Also prints EXPLAIN of the compiled queries.
"""

import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/engage_bench")
os.environ["DATABASE_URL"] = URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")

BENCH_PROJECT = "b" * 32
PLANS = ["free", "pro", "team", "enterprise"]
INTERESTS = ["music", "science", "sports", "travel", "food", "film", "books", "games", "art", "tech"]
COUNTRIES = ["US", "US", "US", "DE", "FR", "GB", "CA", "BR", "IN", "JP"]
PLATFORMS = ["ios", "android", "web"]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

DEFINITIONS = {
    "attribute INCLUSIVE (Plan=enterprise, Cohort=c7)": (
        {
            "Dimensions": {
                "Attributes": {
                    "Plan": {"AttributeType": "INCLUSIVE", "Values": ["enterprise"]},
                    "Cohort": {"AttributeType": "INCLUSIVE", "Values": ["c7"]},
                }
            }
        },
        'attributes @> \'{"Plan": ["enterprise"]}\' AND attributes @> \'{"Cohort": ["c7"]}\'',
    ),
    "metric (visits >= 40)": (
        {"Dimensions": {"Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 40}}}},
        "(metrics ->> 'visits')::float8 >= 40",
    ),
    "demographic + location (ios in US/CA)": (
        {
            "Dimensions": {
                "Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["ios"]}},
                "Location": {"Country": {"DimensionType": "INCLUSIVE", "Values": ["US", "CA"]}},
            }
        },
        "platform = 'ios' AND country IN ('US', 'CA')",
    ),
    "recency (active in 7 days)": (
        {"Dimensions": {"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}}}},
        f"last_active_at >= '{(NOW - timedelta(days=7)).isoformat()}'",
    ),
    "two groups (Plan=pro) ALL (NONE of Country=DE)": (
        {
            "SegmentGroups": {
                "Include": "ALL",
                "Groups": [
                    {
                        "Type": "ALL",
                        "Dimensions": [{"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}],
                    },
                    {
                        "Type": "NONE",
                        "Dimensions": [{"Location": {"Country": {"DimensionType": "INCLUSIVE", "Values": ["DE"]}}}],
                    },
                ],
            }
        },
        "attributes @> '{\"Plan\": [\"pro\"]}' AND country <> 'DE'",
    ),
}


def ensure_database() -> None:
    base, _, name = URL.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def generate(count: int) -> None:
    from django.db import connection

    from projects.models import ApplicationSettings, Project

    if Project.objects.filter(pk=BENCH_PROJECT).exists():
        have = connection.cursor()
        have.execute("SELECT count(*) FROM audience_endpoint WHERE project_id = %s", [BENCH_PROJECT])
        if have.fetchone()[0] == count:
            return
        Project.objects.filter(pk=BENCH_PROJECT).delete()
    project = Project.objects.create(pk=BENCH_PROJECT, name="bench")
    ApplicationSettings.objects.create(project=project)
    rng = random.Random(42)
    started = time.perf_counter()
    columns = (
        "project_id, endpoint_id, key, channel_type, address, attributes, metrics, user_id, app_version, locale, make, "
        "model, model_version, platform, platform_version, timezone, city, country, latitude, longitude, postal_code, "
        "region, opt_out, status, effective_date, creation_date, request_id, cohort_id, last_active_at"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY audience_endpoint ({columns}) FROM STDIN") as copy:
        for i in range(count):
            key = f"ep{i:08d}"
            attributes = json.dumps(
                {
                    "Plan": [rng.choice(PLANS)],
                    "Interests": rng.sample(INTERESTS, rng.randint(1, 3)),
                    "Cohort": [f"c{rng.randrange(50)}"],
                }
            )
            copy.write_row(
                (
                    BENCH_PROJECT,
                    key,
                    key,
                    "EMAIL",
                    f"{key}@example.com",
                    attributes,
                    json.dumps({"visits": rng.randrange(100)}),
                    "",
                    "1.0",
                    "en_US",
                    "",
                    "",
                    "",
                    rng.choice(PLATFORMS),
                    "",
                    "UTC",
                    "",
                    rng.choice(COUNTRIES),
                    None,
                    None,
                    "",
                    "",
                    "ALL" if rng.random() < 0.03 else "NONE",
                    "INACTIVE" if rng.random() < 0.02 else "ACTIVE",
                    NOW,
                    NOW,
                    "",
                    rng.randrange(100),
                    NOW - timedelta(hours=rng.randrange(24 * 60)),
                )
            )
    connection.cursor().execute("ANALYZE audience_endpoint")
    print(f"generated {count} endpoints in {time.perf_counter() - started:.1f} s")


def median_ms(run) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(5):
        started = time.perf_counter()
        result = run()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), result


def main(count: int) -> None:
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audience.models import Endpoint
    from audience.segments import estimate, segment_condition
    from projects.models import Project

    call_command("migrate", verbosity=0)
    generate(count)
    project = Project.objects.get(pk=BENCH_PROJECT)
    print(f"\n{count} endpoints, PostgreSQL {connection.pg_version}, median of 5 runs\n")
    print(
        f"{'definition':<48} {'members':>8} {'hand SQL':>9} {'ours COUNT':>10} {'ratio':>6} "
        f"{'builder estimate':>16} {'its error':>9}"
    )
    for label, (definition, where) in DEFINITIONS.items():
        sql = f"SELECT count(*) FROM audience_endpoint WHERE project_id = %s AND status = 'ACTIVE' AND {where}"

        def hand(sql=sql):
            with connection.cursor() as cursor:
                cursor.execute(sql, [BENCH_PROJECT])
                return cursor.fetchone()[0]

        def ours(definition=definition):
            return (
                Endpoint.objects.for_project(project)
                .active()
                .filter(segment_condition(project, definition, now=NOW))
                .count()
            )

        hand_ms, expected = median_ms(hand)
        ours_ms, got = median_ms(ours)
        estimate_ms, size = median_ms(lambda definition=definition: estimate(project, definition, now=NOW))
        assert got == expected, (label, got, expected)
        kind = "exact" if size.exact else f"{size.sample_percent:.0f}% sample"
        error = abs(size.total - got) / max(got, 1) * 100
        print(
            f"{label:<48} {got:>8} {hand_ms:>7.1f}ms {ours_ms:>8.1f}ms {ours_ms / hand_ms:>5.2f}x "
            f"{estimate_ms:>6.1f}ms {kind:>9} {error:>8.1f}%"
        )
    if "--explain" in sys.argv:
        for label, (definition, _) in DEFINITIONS.items():
            query = (
                Endpoint.objects.for_project(project).active().filter(segment_condition(project, definition, now=NOW))
            )
            print(f"\n-- {label}\n{query.explain()}")


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    main(int(numbers[0]) if numbers else 1_000_000)
