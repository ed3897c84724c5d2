"""CSV endpoint import: our import job end to end against a raw psycopg COPY of the same file.

    .venv/bin/python bench/import_csv.py [rows ...]      (default: 100000 1000000)

Needs PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to
create a throw-away database per size, dropped afterwards. For each size it writes a CSV of
Pinpoint's dotted columns (Id, ChannelType, Address, OptOut, Demographic.Platform,
Location.Country, 10 Attributes.* columns), then times in one run:

- baseline: psycopg `COPY plain FROM STDIN (FORMAT csv, HEADER)` of the file's bytes into a plain
  table with one text column per CSV column (no indexes, no parsing in Python);
- indexed COPY: the same rows already in the endpoint table's columns (prepared before the clock
  starts), COPY'd as bytes into a copy of the endpoint table with all its indexes — the indexes'
  cost with no Python at all, the floor of any import that keeps them;
- thin: the thinnest Python program writing the same endpoints — csv.reader, attributes to JSON,
  COPY write_row into a copy of the endpoint table with all its indexes (no rules, no upsert);
- ours: a fresh process running the import job (audience.imports.import_job_run) on the same file
  as an upload — reading, parsing every row through parse_endpoint, endpoints_write with
  Pinpoint's rules, the endpoint table with all its indexes (GIN included) — and reporting its
  peak RSS.
"""

import contextlib
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
ATTRIBUTES = 10
CHANNELS = ["EMAIL", "SMS", "GCM", "APNS"]
PLANS = ["free", "pro", "team", "enterprise"]


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(42)
    header = ["Id", "ChannelType", "Address", "OptOut", "Demographic.Platform", "Location.Country"]
    header += [f"Attributes.attr{i}" for i in range(ATTRIBUTES)]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        for n in range(rows):
            channel = CHANNELS[n % len(CHANNELS)]
            address = f"user{n}@example.com" if channel == "EMAIL" else f"token-{n:012d}"
            row = [f"ep-{n:08d}", channel, address, "NONE", rng.choice(["ios", "android", "web"]), "DE"]
            row += [f"{PLANS[(n + i) % 4]}-{rng.randrange(50)}" for i in range(ATTRIBUTES)]
            out.writerow(row)


def database_url(name: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(sql)


def baseline_copy(url: str, path: Path) -> float:
    import psycopg

    with path.open() as handle:
        columns = next(csv.reader(handle))
    with psycopg.connect(url) as connection:
        connection.execute("CREATE TABLE plain (" + ", ".join(f'"{c}" text' for c in columns) + ")")
        connection.commit()
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            path.open("rb") as handle,
            cursor.copy("COPY plain FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while block := handle.read(1024 * 1024):
                copy.write(block)
        connection.commit()
        return time.perf_counter() - started


ENDPOINT_COLUMNS = (
    "project_id, key, endpoint_id, channel_type, address, opt_out, platform, country, attributes, metrics, "
    "user_id, app_version, locale, make, model, model_version, platform_version, timezone, city, postal_code, "
    "region, request_id, status, cohort_id, effective_date, creation_date"
)


def endpoint_rows(path: Path, project_id: str):
    """The file's rows as rows of the endpoint table (ENDPOINT_COLUMNS): the least any import does."""
    with path.open(newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows)
        names = [h.split(".", 1)[1] for h in header[6:]]
        for row in rows:
            attributes = {}
            for name, value in zip(names, row[6:], strict=True):
                attributes.setdefault(name, []).append(value)
            yield (
                project_id,
                row[0].lower(),
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                json.dumps(attributes),
                "{}",
                *[""] * 12,
                "ACTIVE",
                0,
                "now",
                "now",
            )


def indexed_table(connection, name: str) -> None:
    """A copy of the endpoint table with all its indexes (the GIN one and the "C" collation included)."""
    connection.execute(f"CREATE TABLE {name} (LIKE audience_endpoint INCLUDING ALL)")
    connection.commit()


def indexed_copy(url: str, path: Path, project_id: str) -> float:
    """COPY alone into the indexed endpoint table: the same rows, already in the table's columns
    (prepared before the clock starts), sent as bytes — what the indexes cost, with no Python."""
    import psycopg

    prepared = path.with_name("prepared-" + path.name)
    with prepared.open("w", newline="") as handle:
        csv.writer(handle).writerows(endpoint_rows(path, project_id))
    with psycopg.connect(url) as connection:
        indexed_table(connection, "copied_endpoint")
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            prepared.open("rb") as handle,
            cursor.copy(f"COPY copied_endpoint ({ENDPOINT_COLUMNS}) FROM STDIN (FORMAT csv, NULL '\\N')") as copy,
        ):
            while block := handle.read(1024 * 1024):
                copy.write(block)
        connection.commit()
        elapsed = time.perf_counter() - started
    prepared.unlink()
    return elapsed


def thin_loop(url: str, path: Path, project_id: str) -> float:
    """The thinnest program writing the same endpoints: csv.reader, attributes to JSON, COPY
    write_row into a copy of the endpoint table with all its indexes (no rules, no upsert)."""
    import psycopg

    with psycopg.connect(url) as connection:
        indexed_table(connection, "indexed_endpoint")
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY indexed_endpoint ({ENDPOINT_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in endpoint_rows(path, project_id):
                copy.write_row(row)
        connection.commit()
        return time.perf_counter() - started


def ours(url: str, path: Path) -> dict:
    """The import job in a fresh process, on a copy of the file (a finished job deletes its upload)."""
    path = Path(shutil.copy(path, path.with_name("upload-" + path.name)))
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "ENGAGE_UPLOAD_DIR": str(path.parent)}
    env.setdefault("SECRET_KEY", "bench-only")
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(path)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    if result.stderr:
        print(result.stderr, file=sys.stderr, end="")
    return json.loads(result.stdout.strip().splitlines()[-1])


class StatementTimes:
    """Django execute wrapper: wall time per kind of statement (its first words), per tenth of
    the run's chunks, so a statement whose cost grows with the table shows up (BENCH_STATEMENTS=1)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.calls.append((" ".join(sql.split()[:6])[:70], time.perf_counter() - started))

    def report(self, elapsed: float) -> None:
        marks = [i for i, (kind, _) in enumerate(self.calls) if kind.startswith('UPDATE "audience_importjob"')]
        tenths = [marks[len(marks) * t // 10] for t in range(1, 10)] + [len(self.calls)] if marks else [len(self.calls)]
        totals: dict[str, list[float]] = {}
        start = 0
        for t, end in enumerate(tenths):
            for kind, seconds in self.calls[start:end]:
                totals.setdefault(kind, [0.0] * len(tenths))[t] += seconds
            start = end
        print(
            f"statements: {sum(s for _, s in self.calls):.1f} s of {elapsed:.1f} s; per tenth of the run:",
            file=sys.stderr,
        )
        for kind, seconds in sorted(totals.items(), key=lambda item: -sum(item[1]))[:14]:
            print(f"{sum(seconds):8.1f} s  {' '.join(f'{s:5.1f}' for s in seconds)}  {kind}", file=sys.stderr)


def child(path: Path) -> None:
    """Run one import job in this process: migrate, a project, the job on `path` as an upload."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from audience.imports import import_job_run
    from audience.models import Endpoint, ImportJob, ImportSource, JobStatus
    from projects.services import project_create

    call_command("migrate", verbosity=0)
    project = project_create(name="Bench", owner=get_user_model().objects.create_user("bench"))
    job = ImportJob.objects.create(
        project=project, source=ImportSource.UPLOAD, format="CSV", s3_url=f"upload://{path.name}", upload=path.name
    )
    statements = StatementTimes()
    started = time.perf_counter()
    with connection.execute_wrapper(statements) if os.environ.get("BENCH_STATEMENTS") else contextlib.nullcontext():
        import_job_run(job.pk, slice_seconds=float("inf"))
    elapsed = time.perf_counter() - started
    if os.environ.get("BENCH_STATEMENTS"):
        statements.report(elapsed)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, (job.status, job.failures)
    assert job.total_failures == 0, job.failures[:3]
    count = Endpoint.objects.filter(project=project).count()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "endpoints": count, "rss_mb": rss_mb, "project": project.pk}))


def main(sizes: list[int]) -> None:
    import psycopg

    with psycopg.connect(PG_URL) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    print(f"PostgreSQL {version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"{'rows':>9}  {'COPY':>7}  {'idx COPY':>8}  {'thin':>7}  {'ours':>7}  {'ours rows/s':>11}  "
        f"{'/COPY':>6}  {'/idx':>5}  {'/thin':>5}  {'idx/COPY':>8}  {'peak RSS':>8}"
    )
    for rows in sizes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"endpoints-{rows}.csv"
            write_csv(path, rows)
            name = f"engage_bench_{os.getpid()}_{rows}"
            admin(f"CREATE DATABASE {name}")
            try:
                copy_seconds = baseline_copy(database_url(name), path)
                result = ours(database_url(name), path)
                thin_seconds = thin_loop(database_url(name), path, result["project"])
                indexed_seconds = indexed_copy(database_url(name), path, result["project"])
            finally:
                admin(f"DROP DATABASE IF EXISTS {name}")
        assert result["endpoints"] == rows, result
        ours_seconds = result["seconds"]
        ratios = [ours_seconds / copy_seconds, ours_seconds / indexed_seconds, ours_seconds / thin_seconds]
        print(
            f"{rows:>9}  {copy_seconds:>6.2f}s  {indexed_seconds:>7.2f}s  {thin_seconds:>6.2f}s  "
            f"{ours_seconds:>6.1f}s  {rows / ours_seconds:>11.0f}  {ratios[0]:>5.1f}x  {ratios[1]:>4.1f}x  "
            f"{ratios[2]:>4.1f}x  {indexed_seconds / copy_seconds:>7.1f}x  {result['rss_mb']:>5.0f} MB"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]))
    else:
        main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
