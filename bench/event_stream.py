"""Event streams: what the marker costs the write path, and shipping against a raw POST loop.

    .venv/bin/python bench/event_stream.py [events]      (default: 100000)

Needs PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to
create a throw-away database, dropped afterwards. A webhook sink in its own process counts the
records it receives (it parses each body). In one Django process on that database, with 1,000
endpoints per project:

- write path: `events_record` of `events` events in calls of 100 (a PutEvents request's most), for
  a project without a stream, then for one with a webhook stream (the marker, and one enqueue on
  the real django-q2 ORM broker — later wake-ups are coalesced while that task is queued); the
  ratio is the second's time over the first's;
- shipping: `stream_ship` of that project's waiting events (records with the endpoint's JSON,
  500 per signed POST, markers cleared per batch), against a raw loop that reads the same events
  with one SELECT of plain tuples and POSTs minimal JSON records, 500 per request, over one
  keep-alive connection.
"""

import json
import multiprocessing
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
ENDPOINTS = 1000
CALL = 100


def sink_main(port, count, ready) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received = len(json.loads(body)["records"])
            with count.get_lock():
                count.value += received
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.value = server.server_address[1]
    ready.set()
    server.serve_forever()


def child(total: int, port: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
    import django

    django.setup()
    import httpx
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from audience.models import Event
    from audience.services import SystemEvent, endpoints_write, events_record
    from audience.streams.services import event_stream_put, stream_ship
    from audience.validation import parse_endpoint
    from projects.services import project_create

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench")
    plain = project_create(name="No stream", owner=owner)
    streamed = project_create(name="Streamed", owner=owner)
    for project in (plain, streamed):
        writes = [
            parse_endpoint(
                f"ep-{n}",
                {
                    "ChannelType": "EMAIL",
                    "Address": f"u{n}@example.com",
                    "Demographic": {"Platform": "ios", "Locale": "en_US", "Make": "Apple", "Model": "iPhone"},
                    "Attributes": {"Plan": ["pro"], "Team": [f"t{n % 20}"]},
                },
            )
            for n in range(ENDPOINTS)
        ]
        for start in range(0, ENDPOINTS, 100):
            endpoints_write(project, writes[start : start + 100])
    event_stream_put(streamed, destination=f"http://127.0.0.1:{port}/sink", role_arn="", updated_by="bench")

    def write(project) -> float:
        now = timezone.now()
        started = time.perf_counter()
        for start in range(0, total, CALL):
            events_record(
                [
                    SystemEvent(
                        project_id=project.pk,
                        endpoint_key=f"ep-{n % ENDPOINTS}",
                        event_id=f"ev-{n}",
                        event_type="purchase",
                        timestamp=now,
                        attributes={"item": f"sku-{n % 97}", "store": "web"},
                    )
                    for n in range(start, min(start + CALL, total))
                ]
            )
        return time.perf_counter() - started

    plain_seconds = write(plain)
    streamed_seconds = write(streamed)
    assert Event.objects.filter(project=streamed, stream_pending=True).count() == total

    started = time.perf_counter()
    shipped = 0
    while Event.objects.filter(project=streamed, stream_pending=True).exists():
        shipped += stream_ship(streamed.pk)
    ship_seconds = time.perf_counter() - started

    started = time.perf_counter()
    rows = (
        Event.objects.filter(project=plain)
        .order_by("id")
        .values_list("id", "event_type", "timestamp", "endpoint_key", "attributes")
    )
    with httpx.Client() as http:
        batch = []
        for row in rows.iterator(chunk_size=5000):
            batch.append(
                {
                    "event_type": row[1],
                    "event_timestamp": int(row[2].timestamp() * 1000),
                    "client": {"client_id": row[3]},
                    "attributes": row[4],
                }
            )
            if len(batch) == 500:
                http.post(f"http://127.0.0.1:{port}/raw", content=json.dumps({"records": batch}).encode())
                batch = []
        if batch:
            http.post(f"http://127.0.0.1:{port}/raw", content=json.dumps({"records": batch}).encode())
    raw_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "plain": plain_seconds,
                "streamed": streamed_seconds,
                "ship": ship_seconds,
                "shipped": shipped,
                "raw": raw_seconds,
            }
        )
    )


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(sql)


def main(total: int) -> None:
    import psycopg

    with psycopg.connect(PG_URL) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    print(f"PostgreSQL {version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {total} events")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    port, count, ready = multiprocessing.Value("i", 0), multiprocessing.Value("l", 0), multiprocessing.Event()
    sink = multiprocessing.Process(target=sink_main, args=(port, count, ready), daemon=True)
    sink.start()
    ready.wait(30)
    name = f"engage_bench_stream_{os.getpid()}"
    admin(f"CREATE DATABASE {name}")
    try:
        env = {
            **os.environ,
            "DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/" + name,
            "PYTHONPATH": str(ROOT),
            "ENGAGE_QUEUE_SYNC": "0",
            "LOG_LEVEL": "WARNING",
        }
        env.setdefault("SECRET_KEY", "bench-only")
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(total), str(port.value)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        numbers = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        admin(f"DROP DATABASE IF EXISTS {name}")
        sink.terminate()
    assert numbers["shipped"] == total, numbers
    assert count.value == 2 * total, count.value  # ours and the raw loop each delivered every record
    print(f"{'':>34}  {'seconds':>8}  {'events/s':>8}  {'ratio':>6}")
    for label, seconds, base in (
        ("write, no stream", numbers["plain"], numbers["plain"]),
        ("write, with a stream (marked)", numbers["streamed"], numbers["plain"]),
        ("raw SELECT + POST loop", numbers["raw"], numbers["raw"]),
        ("stream_ship (records, markers)", numbers["ship"], numbers["raw"]),
    ):
        print(f"{label:>34}  {seconds:>8.2f}  {total / seconds:>8.0f}  {seconds / base:>5.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
