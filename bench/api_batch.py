"""UpdateEndpointsBatch through boto3 against a raw INSERT … ON CONFLICT of the same rows.

    .venv/bin/python bench/api_batch.py [endpoints] [clients]      (default: 20000 4)

Needs PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to
create a throw-away database, dropped afterwards. In one run:

- ours: gunicorn (2 workers of 4 threads, as `make run` would on 2 cores) serving Engage on
  127.0.0.1; `clients` threads, each with its own boto3 client and access key signature, send
  UpdateEndpointsBatch calls of 100 endpoints (10 attributes each) until all are written;
- baseline: the same number of psycopg connections sending the same rows, 100 per transaction,
  as `executemany(INSERT … ON CONFLICT (project_id, key) DO UPDATE …)` into a copy of the endpoint
  table with the same indexes (`LIKE audience_endpoint INCLUDING ALL`).

Both report endpoints per second; the ratio is ours' time over the baseline's.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BATCH = 100
PLANS = ["free", "pro", "team", "enterprise"]


def endpoint(n: int) -> dict:
    return {
        "Id": f"ep-{n:08d}",
        "ChannelType": "EMAIL",
        "Address": f"user{n}@example.com",
        "OptOut": "NONE",
        "Demographic": {"Platform": "web"},
        "Location": {"Country": "DE"},
        "Attributes": {f"attr{i}": [f"{PLANS[(n + i) % 4]}-{n % 50}"] for i in range(10)},
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_threads(count: int, work) -> float:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def ours(url: str, project_id: str, key: tuple[str, str], total: int, clients: int) -> float:
    import boto3
    from botocore.config import Config

    batches = [[endpoint(n) for n in range(start, min(start + BATCH, total))] for start in range(0, total, BATCH)]
    errors: list[Exception] = []

    def work(index: int) -> None:
        client = boto3.client(
            "pinpoint",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            config=Config(retries={"max_attempts": 0}, max_pool_connections=2),
        )
        try:
            for batch in batches[index::clients]:
                client.update_endpoints_batch(ApplicationId=project_id, EndpointBatchRequest={"Item": batch})
        except Exception as error:  # reported after the run
            errors.append(error)

    elapsed = run_threads(clients, work)
    if errors:
        raise SystemExit(f"UpdateEndpointsBatch failed: {errors[0]}")
    return elapsed


def baseline(database: str, project_id: str, total: int, clients: int) -> float:
    import psycopg

    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("CREATE TABLE plain_endpoint (LIKE audience_endpoint INCLUDING ALL)")
    columns = (
        "project_id, key, endpoint_id, channel_type, address, user_id, app_version, locale, make, model, "
        "model_version, platform, platform_version, timezone, city, country, postal_code, region, opt_out, "
        "request_id, attributes, metrics, status, cohort_id, effective_date, creation_date"
    )
    insert = (
        f"INSERT INTO plain_endpoint ({columns}) VALUES (%s, %s, %s, %s, %s, '', '', '', '', '', '', %s, '', '', '', "
        "%s, '', '', %s, '', %s, '{}', 'ACTIVE', 0, now(), now()) ON CONFLICT (project_id, key) DO UPDATE SET "
        "address = EXCLUDED.address, attributes = plain_endpoint.attributes || EXCLUDED.attributes, "
        "effective_date = EXCLUDED.effective_date"
    )
    rows = [
        (
            project_id,
            e["Id"].lower(),
            e["Id"],
            e["ChannelType"],
            e["Address"],
            e["Demographic"]["Platform"],
            e["Location"]["Country"],
            e["OptOut"],
            json.dumps(e["Attributes"]),
        )
        for e in map(endpoint, range(total))
    ]
    batches = [rows[start : start + BATCH] for start in range(0, total, BATCH)]

    def work(index: int) -> None:
        with psycopg.connect(database) as connection:
            for batch in batches[index::clients]:
                with connection.cursor() as cursor:
                    cursor.executemany(insert, batch)
                connection.commit()

    return run_threads(clients, work)


def main(total: int, clients: int) -> None:
    import psycopg

    name = f"engage_bench_api_{os.getpid()}"
    database = PG_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
        connection.execute(f"CREATE DATABASE {name}")
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "SECRET_KEY": "bench-only",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "engage.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    server = None
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from projects.services import access_key_create, project_create

        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create_user("bench")
        project = project_create(name="Bench", owner=user)
        issued = access_key_create(user)
        django.db.connections.close_all()

        port = free_port()
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "engage.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/v1/apps", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # 403 for an unsigned request: the server is up
            except OSError:
                time.sleep(0.1)
        print(
            f"PostgreSQL {version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
            f"{total} endpoints, {clients} clients, {BATCH} per call"
        )
        ours_seconds = ours(url, project.id, (issued.key.access_key_id, issued.secret), total, clients)
        with psycopg.connect(database) as connection:
            written = connection.execute("SELECT count(*) FROM audience_endpoint").fetchone()[0]
        assert written == total, written
        base_seconds = baseline(database, project.id, total, clients)
        print(f"{'':<40} {'seconds':>8} {'endpoints/s':>12}")
        print(f"{'UpdateEndpointsBatch (boto3 → gunicorn)':<40} {ours_seconds:>8.2f} {total / ours_seconds:>12.0f}")
        print(f"{'INSERT … ON CONFLICT (psycopg)':<40} {base_seconds:>8.2f} {total / base_seconds:>12.0f}")
        print(f"ratio: {ours_seconds / base_seconds:.1f}x")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        django_connections_close()
        with psycopg.connect(PG_URL, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def django_connections_close() -> None:
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # Django was never set up
        pass


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:]]
    main(arguments[0] if arguments else 20_000, arguments[1] if len(arguments) > 1 else 4)
