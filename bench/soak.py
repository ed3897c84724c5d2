"""A mixed soak of the production layout: API writes, events, a marketer's pages and one large
campaign at once, for half an hour; every request's latency and outcome, the processes' memory.

    .venv/bin/python bench/soak.py [seconds] [endpoints]        (default: 1800 100000)

Not a timing against a baseline like the other scripts: a reliability drill whose target is 0
errors, with latencies and memory reported. Needs PostgreSQL (BENCH_PG_URL, as the others; the
database engage_soak is created and dropped) and Redis (SOAK_REDIS_URL, default
redis://127.0.0.1:6379/11: that db is flushed before and after). Run it alone on the machine
(`flock /tmp/engage-bench.lock .venv/bin/python bench/soak.py`).

- Code: the committed HEAD, cloned to SOAK_CODE (default /tmp/soak-clone, replaced) with this
  checkout's .venv linked in, so that the servers (and django-q2's recycled workers) run one
  version, not a working tree being edited.
- Setup (not timed): migrate, schedules, collectstatic; a project owned by `admin` (its access key
  signs the API calls) with `marketer` as editor; an EMAIL channel; `endpoints` EMAIL endpoints
  written with COPY (bench/campaign_send.py's load_endpoints) and a segment holding all of them.
  The mail server is aiosmtpd on loopback in its own process, counting messages and distinct
  Message-IDs.
- Servers, as docs/production.md runs them: gunicorn (engage.wsgi, 2 gthread workers of 4
  threads, keepalive 75 s from gunicorn.conf.py) and one `manage.py qcluster` (ENGAGE_WORKERS=2) with
  the Redis broker; DEBUG=0, a SECRET_KEY, ENGAGE_PUBLIC_URL http://127.0.0.1:<port> (tracking
  links on); plain http allowed by the settings' own variables (secure cookies off).
- Load, at steady rates from client threads for `seconds`:
  - UpdateEndpointsBatch (boto3): RATES calls a second, 100 existing endpoints each (attributes
    changed, segment membership kept, so the campaign's audience stays `endpoints`) of which
    NEW_PER_BATCH are new endpoints outside the segment;
  - PutEvents (boto3): EVENTS_ENDPOINTS random existing endpoints x EVENTS_EACH events a call;
  - the marketer's browser session: signs in through the login form (CSRF), then every
    PAGE_EVERY seconds loads the dashboard and the campaign page (the campaign list before it exists);
  - one campaign to the whole segment, created with CreateCampaign (IMMEDIATE, ONCE)
    CAMPAIGN_AT seconds in; the scheduler's tick starts it.
  Every call's latency and outcome is recorded: an error is an exception, a status outside 2xx, or
  an item of a 202 PutEvents answer that is not 202. Calls are not retried.
- Every SAMPLE_EVERY seconds: RSS (VmRSS) of the gunicorn processes and of the cluster's processes
  (sum and largest), the 1-minute load average, the sink's count and the outbox's waiting rows.
- After the load, the campaign is waited for (its last message at the sink and nothing QUEUED or
  SENDING); then exactly once: sink messages == distinct Message-IDs == endpoints, every outbox row
  SENT, the run COMPLETED. ERROR lines in the servers' logs are counted.

Printed: per kind count, errors, p50/p95/p99/max, and p99 per 5-minute window; memory at start,
peak and end; the campaign's times and checks. Raw results: SOAK_RESULTS (default
bench/results/soak.json).
"""

import contextlib
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from _scratch import PG_URL, ROOT, admin, preamble  # bench/ is sys.path[0]
from api_batch import free_port
from campaign_send import EMAIL, FROM, descendants, load_endpoints

CODE = Path(os.environ.get("SOAK_CODE", "/tmp/soak-clone"))
REDIS_URL = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/11")
RESULTS = Path(os.environ.get("SOAK_RESULTS", ROOT / "bench" / "results" / "soak.json"))
DATABASE = "engage_soak"
PASSWORD = "soak-drill-password-1"

RATES = {"UpdateEndpointsBatch": 2.0, "PutEvents": 5.0}  # calls a second, all threads together
THREADS = 4  # client threads per API kind, each at its share of the rate
BATCH = 100
NEW_PER_BATCH = 10
EVENTS_ENDPOINTS, EVENTS_EACH = 10, 2
PAGE_EVERY = 5.0
CAMPAIGN_AT = 60.0
SAMPLE_EVERY = 10.0
# As docs/production.md runs it, with 2 workers for 2 cores.
GUNICORN = ["--workers", "2", "--worker-class", "gthread", "--threads", "4", "--timeout", "60"]
GUNICORN += ["--graceful-timeout", "20"]  # and gunicorn.conf.py (keepalive), read from the clone's root
WINDOW = 300  # seconds per window of the p99-over-time line
DRAIN_STALL = 300  # seconds without a message reaching the sink after the load: given up


# --- the mail sink: its own process ---------------------------------------------------------------

MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class Sink:
    def __init__(self, total, distinct) -> None:
        self.total, self.distinct, self.seen = total, distinct, set()

    async def handle_DATA(self, server, session, envelope) -> str:
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        key = found.group(1) if found else None
        with self.total.get_lock():
            self.total.value += 1
        if key is not None and key not in self.seen:
            self.seen.add(key)
            with self.distinct.get_lock():
                self.distinct.value += 1
        return "250 OK"


def sink_main(port: int, total, distinct, ready) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(Sink(total, distinct), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


# --- recording ------------------------------------------------------------------------------------


class Recorder:
    """Every call: (seconds since the load started, latency, error or '')."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, list[tuple[float, float, str]]] = {}
        self.skipped: dict[str, int] = {}  # calls not made: the client thread was still waiting
        self.started = time.monotonic()
        self.wall = time.time()  # the same instant on the clock the servers' logs use

    def timed(self, kind: str, call):
        began = time.monotonic()
        error = ""
        result = None
        try:
            result = call()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        finished = time.monotonic()
        if not error and isinstance(result, str):
            error = result  # the call's own finding (a refused item, an unexpected page)
        with self.lock:
            self.calls.setdefault(kind, []).append((began - self.started, finished - began, error))
        return error


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values) + 0.5) - 1))]


def summary(calls: list[tuple[float, float, str]]) -> dict:
    latencies = sorted(c[1] for c in calls)
    errors = [c for c in calls if c[2]]
    kinds: dict[str, int] = {}
    for c in errors:
        kinds[c[2][:120]] = kinds.get(c[2][:120], 0) + 1
    return {
        "count": len(calls),
        "errors": len(errors),
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * (latencies[-1] if latencies else float("nan")),
        "error_kinds": kinds,
        "first_errors": [{"at_s": round(c[0], 1), "error": c[2]} for c in errors[:20]],
    }


def windows(calls: list[tuple[float, float, str]], seconds: int) -> list[dict]:
    buckets: dict[int, list[tuple[float, float, str]]] = {}
    for c in calls:
        buckets.setdefault(int(c[0] // seconds), []).append(c)
    return [
        {"from_s": b * seconds, **{k: v for k, v in summary(buckets[b]).items() if k not in ("first_errors",)}}
        for b in sorted(buckets)
    ]


# --- processes ------------------------------------------------------------------------------------


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process: PSS shares pages among the processes mapping them, so the sum of a
    forked family's PSS is what it holds together (their RSS sum counts shared pages repeatedly)."""
    found = {"Rss": 0, "Pss": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name = line.split(":", 1)[0]
            if name in found:
                found[name] = int(line.split()[1])
    except OSError:
        pass
    return found["Rss"], found["Pss"]


def tree_memory(root: int) -> dict:
    """Memory of `root` and its descendants: RSS sum and largest, PSS sum, how many, their pids."""
    sizes = {pid: memory_kb(pid) for pid in [root, *descendants(root)]}
    sizes = {pid: kb for pid, kb in sizes.items() if kb[0]}
    return {
        "sum_mb": sum(kb[0] for kb in sizes.values()) / 1024,
        "max_mb": max((kb[0] for kb in sizes.values()), default=0) / 1024,
        "pss_mb": sum(kb[1] for kb in sizes.values()) / 1024,
        "processes": len(sizes),
        "pids": sorted(sizes),
    }


def clone() -> str:
    """The committed HEAD in CODE, with this checkout's virtualenv; returns the commit."""
    if CODE.exists():
        shutil.rmtree(CODE)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(CODE)], check=True)
    (CODE / ".venv").symlink_to(ROOT / ".venv")
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=CODE, check=True, capture_output=True, text=True
    ).stdout.strip()


def wait_healthy(url: str, server: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn ended with {server.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


RESTART = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000)\] \[\d+\] \[INFO\] (Autorestarting|Worker exiting)")


def worker_restarts(path: Path) -> list[float]:
    """When gunicorn's workers stopped (--max-requests), from its log: epoch seconds."""
    found = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        if match := RESTART.match(line):
            found.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S %z").timestamp())
    return found


def errors_near_restarts(result: dict, restarts: list[float], wall: float) -> None:
    """Each error's distance to the nearest gunicorn worker restart, in seconds (None: none seen)."""
    for summary_ in result["kinds"].values():
        for error in summary_["first_errors"]:
            at = wall + error["at_s"]
            error["nearest_worker_restart_s"] = min((round(r - at, 1) for r in restarts), key=abs, default=None)


def log_problems(path: Path) -> dict:
    """ERROR/CRITICAL lines (JSON logs) and tracebacks in a server's log."""
    counts = {"error_lines": 0, "warning_lines": 0, "tracebacks": 0}
    first: list[str] = []
    if not path.exists():
        return {**counts, "first": first}
    for line in path.read_text(errors="replace").splitlines():
        level = ""
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                level = json.loads(line).get("level", "")
        if level in ("ERROR", "CRITICAL") or " ERROR " in line or "[ERROR]" in line:
            counts["error_lines"] += 1
            if len(first) < 10:
                first.append(line[:600])
        elif level == "WARNING" or "[WARNING]" in line:
            counts["warning_lines"] += 1
        if line.startswith("Traceback"):
            counts["tracebacks"] += 1
    return {**counts, "first": first}


# --- load -----------------------------------------------------------------------------------------


def boto_client(url: str, key: tuple[str, str]):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "pinpoint",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"max_attempts": 0}, connect_timeout=10, read_timeout=120, max_pool_connections=2),
    )


def paced(rate: float, offset: float, stop: threading.Event, work, rec: Recorder, kind: str) -> None:
    """Call `work(i)` at `rate` a second from `offset`, until `stop`. A call that falls due while
    the previous one still runs is skipped and counted, not sent late: no catch-up bursts."""
    interval = 1 / rate
    due = time.monotonic() + offset
    i = 0
    while not stop.is_set():
        wait = due - time.monotonic()
        if wait > 0 and stop.wait(wait):
            break
        work(i)
        i += 1
        due += interval
        behind = time.monotonic() - due
        if behind > 0:
            missed = int(behind // interval) + 1
            due += missed * interval
            with rec.lock:
                rec.skipped[kind] = rec.skipped.get(kind, 0) + missed


def endpoint_write(n: int, total: int, call: int) -> dict:
    if n >= total:  # a new endpoint, outside the segment
        key = f"new{n:08d}"
        return {
            "Id": key,
            "ChannelType": "EMAIL",
            "Address": f"{key}@example.net",
            "Attributes": {"FirstName": [f"New{n}"], "Plan": ["free"]},
        }
    key = f"ep{n:08d}"  # as load_endpoints wrote it: same address, same Plan, a changed attribute
    return {
        "Id": key,
        "ChannelType": "EMAIL",
        "Address": f"{key}@example.org",
        "Attributes": {"FirstName": [f"Name{n}"], "Plan": ["pro"], "Visits": [str(call)]},
        "Metrics": {"sessions": float(call % 50)},
    }


def batch_worker(index: int, url: str, key, project_id: str, total: int, rec: Recorder, stop) -> None:
    client = boto_client(url, key)
    rate = RATES["UpdateEndpointsBatch"] / THREADS
    new = [total + 1_000_000 * (index + 1)]

    def work(i: int) -> None:
        call = i * THREADS + index
        existing = BATCH - NEW_PER_BATCH
        items = [endpoint_write((call * existing + j) % total, total, call) for j in range(existing)]
        items += [endpoint_write(new[0] + j, total, call) for j in range(NEW_PER_BATCH)]
        new[0] += NEW_PER_BATCH

        def send():
            answer = client.update_endpoints_batch(ApplicationId=project_id, EndpointBatchRequest={"Item": items})
            return "" if answer["ResponseMetadata"]["HTTPStatusCode"] == 202 else f"HTTP {answer}"

        rec.timed("UpdateEndpointsBatch", send)

    paced(rate, index / RATES["UpdateEndpointsBatch"], stop, work, rec, "UpdateEndpointsBatch")


def events_worker(index: int, url: str, key, project_id: str, total: int, rec: Recorder, stop) -> None:
    client = boto_client(url, key)
    rate = RATES["PutEvents"] / THREADS
    rng = random.Random(index)
    types = ["app.view", "purchase", "cart.add", "app.open"]

    def work(i: int) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        items = {}
        for n in rng.sample(range(total), EVENTS_ENDPOINTS):
            events = {
                f"s{index}-{i}-{n}-{e}": {
                    "EventType": rng.choice(types),
                    "Timestamp": stamp,
                    "Attributes": {"screen": f"s{rng.randrange(20)}"},
                    "Metrics": {"value": float(rng.randrange(100))},
                }
                for e in range(EVENTS_EACH)
            }
            items[f"ep{n:08d}"] = {"Endpoint": {}, "Events": events}

        def send():
            answer = client.put_events(ApplicationId=project_id, EventsRequest={"BatchItem": items})
            refused = [
                f"{endpoint_id}/{event_id}: {r['StatusCode']} {r.get('Message', '')}"
                for endpoint_id, result in answer["EventsResponse"]["Results"].items()
                for event_id, r in {"endpoint": result["EndpointItemResponse"], **result["EventsItemResponse"]}.items()
                if r["StatusCode"] != 202
            ]
            return f"refused items: {refused[:3]}" if refused else ""

        rec.timed("PutEvents", send)

    paced(rate, index / RATES["PutEvents"], stop, work, rec, "PutEvents")


def browser(url: str, rec: Recorder, stop: threading.Event, campaign: dict) -> None:
    """The marketer: the login form, then the dashboard and the campaign page every PAGE_EVERY s."""
    import httpx

    http = httpx.Client(base_url=url, timeout=120, follow_redirects=False)

    def login() -> str:
        form = http.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        if form.status_code != 200 or not token:
            return f"login form: HTTP {form.status_code}"
        answer = http.post(
            "/login/", data={"username": "marketer", "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
        )
        return "" if answer.status_code == 302 else f"login: HTTP {answer.status_code}"

    def page(path: str, expect: str):
        def get() -> str:
            answer = http.get(path)
            if answer.status_code != 200:
                return f"HTTP {answer.status_code} {answer.headers.get('location', '')}"
            return "" if expect in answer.text else f"{path}: {expect!r} not on the page"

        return get

    if rec.timed("login", login):
        return

    def work(i: int) -> None:
        rec.timed("dashboard page", page("/", "<h1>Soak</h1>"))
        if campaign.get("id"):
            rec.timed("campaign page", page(f"/campaigns/{campaign['id']}/", "Autumn sale"))
        else:
            rec.timed("campaign list page", page("/campaigns/", "<h1>Campaigns</h1>"))

    paced(1 / PAGE_EVERY, 0, stop, work, rec, "pages")
    http.close()


def campaign_create(url: str, key, project_id: str, segment_id: str, rec: Recorder, stop, campaign: dict) -> None:
    if stop.wait(CAMPAIGN_AT):
        return
    client = boto_client(url, key)

    def create() -> str:
        answer = client.create_campaign(
            ApplicationId=project_id,
            WriteCampaignRequest={
                "Name": "Autumn sale",
                "SegmentId": segment_id,
                "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
                "MessageConfiguration": EMAIL,
            },
        )
        campaign["id"] = answer["CampaignResponse"]["Id"]
        return ""

    campaign["created_at"] = time.monotonic() - rec.started
    rec.timed("CreateCampaign", create)


def guarded(target, *args) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        except Exception:  # a client bug, not a request's outcome: shown, the soak goes on
            traceback.print_exc()

    return threading.Thread(target=run, daemon=True)


# --- the drill ------------------------------------------------------------------------------------


def setup(total: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from audience.segments import segment_create
    from campaigns.channels import channel_update
    from projects.models import Role
    from projects.services import access_key_create, membership_set, project_create

    call_command("migrate", verbosity=0)
    call_command("sync_schedules", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    users = get_user_model().objects
    owner = users.create_superuser("admin", "admin@example.com", PASSWORD)
    project = project_create(name="Soak", owner=owner)
    membership_set(project, user=users.create_user("marketer", "marketer@example.com", PASSWORD), role=Role.EDITOR)
    issued = access_key_create(owner)
    channel_update(project, "EMAIL", {"Enabled": True, "FromAddress": FROM, "Identity": "example.com"}, by="soak")
    started = time.perf_counter()
    load_endpoints(total, project.id)
    loaded = time.perf_counter() - started
    segment = segment_create(
        project, name="Everyone", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    )
    django.db.connections.close_all()
    return {
        "project": project.id,
        "segment": segment.id,
        "key": (issued.key.access_key_id, issued.secret),
        "load_seconds": loaded,
    }


def outbox(campaign_id: str | None) -> dict:
    from django.db.models import Count

    from campaigns.models import CampaignRun, Delivery, DeliveryStatus

    if not campaign_id:
        return {}
    waiting = Delivery.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]).count()
    runs = list(CampaignRun.objects.filter(campaign_id=campaign_id).values_list("state", flat=True))
    result = {"waiting": waiting, "runs": runs}
    if runs and all(state == "COMPLETED" for state in runs) and not waiting:
        statuses = Delivery.objects.filter(campaign_id=campaign_id).values_list("status").annotate(n=Count("id"))
        result["statuses"] = dict(statuses.order_by())
    return result


def redis_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def stop_process(process: subprocess.Popen | None, seconds: int) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def main(duration: int, total: int) -> None:
    preamble()
    commit = clone()
    logs = Path(f"/tmp/soak-logs-{os.getpid()}")
    logs.mkdir()
    context = multiprocessing.get_context("fork")  # before any thread or Django
    sink_total, sink_distinct, ready = context.Value("q", 0), context.Value("q", 0), context.Event()
    smtp_port = free_port()
    sink = context.Process(target=sink_main, args=(smtp_port, sink_total, sink_distinct, ready), daemon=True)
    sink.start()
    ready.wait(30)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/" + DATABASE,
        "PYTHONPATH": str(CODE),
        "DJANGO_SETTINGS_MODULE": "engage.settings",
        "DEBUG": "0",
        "SECRET_KEY": "soak-drill-" + os.urandom(16).hex(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "ENGAGE_PUBLIC_URL": url,
        "SESSION_COOKIE_SECURE": "0",  # plain http on loopback: the drill has no TLS
        "CSRF_COOKIE_SECURE": "0",
        "ENGAGE_REDIS_URL": REDIS_URL,
        "ENGAGE_WORKERS": "2",
        "ENGAGE_VAR_DIR": str(logs / "var"),
        "STATIC_ROOT": str(logs / "static"),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(logs / "metrics"),
    }
    (logs / "metrics").mkdir()
    for name in ("ENGAGE_QUEUE_SYNC", "DATABASE_REPLICA_URL", "ENGAGE_API_RATE_LIMITS"):
        env.pop(name, None)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(CODE))  # Engage's modules from the clone, like the servers'
    admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin(f"CREATE DATABASE {DATABASE}")
    redis_flush()
    server = cluster = None
    stop = threading.Event()
    try:
        made = setup(total)
        print(f"code {commit} ({CODE}); {total:,} endpoints loaded in {made['load_seconds']:.1f} s", flush=True)
        python = str(ROOT / ".venv/bin/python")
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "engage.wsgi:application", "--bind", f"127.0.0.1:{port}", *GUNICORN],
            cwd=CODE,
            env=env,
            stdout=(logs / "gunicorn.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        cluster = subprocess.Popen(
            [python, "manage.py", "qcluster"],
            cwd=CODE,
            env=env,
            stdout=(logs / "qcluster.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_healthy(url, server)
        time.sleep(5)  # the cluster's workers up
        rec = Recorder()
        samples: list[dict] = []
        seen = {"gunicorn": set(), "qcluster": set()}
        campaign: dict = {}

        def sample(phase: str) -> dict:
            row = {
                "at_s": round(time.monotonic() - rec.started, 1),
                "phase": phase,
                "load1": os.getloadavg()[0],
                "gunicorn": tree_memory(server.pid),
                "qcluster": tree_memory(cluster.pid),
                "sink": sink_total.value,
                "outbox": outbox(campaign.get("id")),
            }
            for name in seen:
                seen[name].update(row[name].pop("pids"))
            samples.append(row)
            return row

        def sampler() -> None:
            while not stop.wait(SAMPLE_EVERY):
                row = sample("load")
                if int(row["at_s"]) % 60 < SAMPLE_EVERY:
                    print(
                        f"  {row['at_s']:>6.0f} s  load {row['load1']:.1f}  gunicorn {row['gunicorn']['sum_mb']:.0f} MB"
                        f" (max {row['gunicorn']['max_mb']:.0f})  qcluster {row['qcluster']['sum_mb']:.0f} MB"
                        f" (max {row['qcluster']['max_mb']:.0f})  sink {row['sink']:,}  "
                        f"calls {sum(len(v) for v in rec.calls.values()):,}",
                        flush=True,
                    )
                if server.poll() is not None or cluster.poll() is not None:
                    print("a server process ended", flush=True)
                    stop.set()

        sent_at: dict = {}

        def sink_watch() -> None:
            while sink_total.value < total and not sent_at.get("stop"):
                time.sleep(0.5)
            if sink_total.value >= total:
                sent_at["last"] = time.monotonic() - rec.started

        def first_watch() -> None:
            while sink_total.value == 0 and not sent_at.get("stop"):
                time.sleep(0.2)
            sent_at["first"] = time.monotonic() - rec.started

        sample("idle")
        args = (url, made["key"], made["project"], total, rec, stop)
        threads = [guarded(batch_worker, i, *args) for i in range(THREADS)]
        threads += [guarded(events_worker, i, *args) for i in range(THREADS)]
        threads += [guarded(browser, url, rec, stop, campaign)]
        threads += [guarded(campaign_create, url, made["key"], made["project"], made["segment"], rec, stop, campaign)]
        threads += [guarded(sampler), guarded(sink_watch), guarded(first_watch)]
        print(f"load for {duration} s: {RATES} calls/s, pages every {PAGE_EVERY:.0f} s", flush=True)
        rec.started, rec.wall = time.monotonic(), time.time()
        for thread in threads:
            thread.start()
        stop.wait(duration)
        stop.set()
        for thread in threads[:6]:
            thread.join(180)
        load_ended = time.monotonic() - rec.started
        sample("end of load")
        last, progress = sink_total.value, time.monotonic()
        while campaign.get("id") and "last" not in sent_at and time.monotonic() - progress < DRAIN_STALL:
            time.sleep(2)
            if sink_total.value != last:
                last, progress = sink_total.value, time.monotonic()
        sent_at["stop"] = True
        while True:  # the last rows recorded SENT after the sink took them
            state = outbox(campaign.get("id"))
            if not campaign.get("id") or "statuses" in state or time.monotonic() - progress > DRAIN_STALL:
                break
            time.sleep(2)
        drained = sample("drained")
        result = report(duration, total, rec, samples, seen, campaign, sent_at, drained, load_ended)
        result["sink"] = {"messages": sink_total.value, "distinct_message_ids": sink_distinct.value}
    finally:
        stop.set()
        stop_process(server, 30)
        stop_process(cluster, 120)
        sink.terminate()
        sink.join(10)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never set up
            pass
        admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        redis_flush()
        shutil.rmtree(CODE, ignore_errors=True)
    result["logs"] = {name: log_problems(logs / f"{name}.log") for name in ("gunicorn", "qcluster")}
    restarts = worker_restarts(logs / "gunicorn.log")
    log_text = (logs / "gunicorn.log").read_text(errors="replace") if (logs / "gunicorn.log").exists() else ""
    result["gunicorn_worker_restarts"] = log_text.count("Autorestarting worker")
    print(f"gunicorn workers restarted (--max-requests): {result['gunicorn_worker_restarts']}")
    errors_near_restarts(result, restarts, result.pop("wall"))
    for kind, summary_ in result["kinds"].items():
        for error in summary_["first_errors"]:
            near = error["nearest_worker_restart_s"]
            print(f"{kind} at {error['at_s']} s ({near} s from a worker restart): {error['error']}")
    result["code_commit"] = commit
    checks = exactly_once(result, total)
    for name, problems in result["logs"].items():
        print(f"{name} log: {problems['error_lines']} ERROR lines, {problems['tracebacks']} tracebacks")
        for line in problems["first"][:3]:
            print(f"    {line[:300]}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"raw results: {RESULTS}; server logs kept in {logs}")
    errors = sum(s["errors"] for s in result["kinds"].values())
    print(f"errors: {errors}; exactly once: {'yes' if all(checks.values()) else 'NO'}")


def report(duration, total, rec, samples, seen, campaign, sent_at, drained, load_ended) -> dict:
    kinds = {kind: summary(calls) for kind, calls in sorted(rec.calls.items())}
    header = ("count", "per s", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms")
    print(f"\n{'kind':<22} " + " ".join(f"{h:>8}" for h in header))
    for kind, s in kinds.items():
        cells = (f"{s['count']:,}", f"{s['count'] / load_ended:.2f}", str(s["errors"]))
        cells += tuple(f"{s[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
        print(f"{kind:<22} " + " ".join(f"{c:>8}" for c in cells))
        for error, n in list(s["error_kinds"].items())[:5]:
            print(f"    {n} x {error}")
    if rec.skipped:
        print(f"calls skipped (due while the client thread still waited for the previous one): {rec.skipped}")
    per_window = {kind: windows(calls, WINDOW) for kind, calls in rec.calls.items()}
    print(f"per {WINDOW // 60}-minute window, p99 ms (calls):")
    for kind, rows in sorted(per_window.items()):
        if len(rows) > 1:
            print(f"  {kind:<22} " + " ".join(f"{r['p99_ms']:.0f} ({r['count']})" for r in rows))
    during = [s for s in samples if s["phase"] == "load"] or samples
    memory = {}
    for name in ("gunicorn", "qcluster"):
        memory[name] = {
            "idle_sum_mb": samples[0][name]["sum_mb"],
            "start_sum_mb": during[0][name]["sum_mb"],
            "peak_sum_mb": max(s[name]["sum_mb"] for s in samples),
            "end_sum_mb": during[-1][name]["sum_mb"],
            "drained_sum_mb": drained[name]["sum_mb"],
            "start_pss_mb": during[0][name]["pss_mb"],
            "peak_pss_mb": max(s[name]["pss_mb"] for s in samples),
            "end_pss_mb": during[-1][name]["pss_mb"],
            "start_max_mb": during[0][name]["max_mb"],
            "peak_max_mb": max(s[name]["max_mb"] for s in samples),
            "end_max_mb": during[-1][name]["max_mb"],
            "processes_seen": len(seen[name]),
        }
        m = memory[name]
        print(
            f"{name} RSS, sum of processes: start {m['start_sum_mb']:.0f} MB, peak {m['peak_sum_mb']:.0f},"
            f" end {m['end_sum_mb']:.0f}; PSS sum: start {m['start_pss_mb']:.0f}, peak {m['peak_pss_mb']:.0f},"
            f" end {m['end_pss_mb']:.0f}; largest process: start {m['start_max_mb']:.0f}, peak"
            f" {m['peak_max_mb']:.0f}, end {m['end_max_mb']:.0f}; {m['processes_seen']} processes seen"
        )
    loads = [s["load1"] for s in during]
    print(f"load average (1 min) during the load: mean {sum(loads) / len(loads):.1f}, max {max(loads):.1f}")
    created = campaign.get("created_at")
    campaign_result = {
        "id": campaign.get("id"),
        "created_at_s": created,
        "first_message_s": sent_at.get("first"),
        "last_message_s": sent_at.get("last"),
        "outbox": drained["outbox"],
    }
    if created is not None and sent_at.get("last") is not None:
        took, sending = sent_at["last"] - created, sent_at["last"] - sent_at["first"]
        campaign_result.update(create_to_last_message_s=took, first_to_last_message_s=sending)
        print(
            f"campaign: created at {created:.0f} s, first message at {sent_at['first']:.0f} s (the scheduler's"
            f" tick), all {total:,} at the sink {took:.0f} s after CreateCampaign; first to last {sending:.0f} s"
            f" ({total / sending:.0f} msg/s)"
        )
    else:
        print(f"campaign: NOT finished ({drained['sink']:,} of {total:,} at the sink)")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": duration,
        "load_ended_s": load_ended,
        "endpoints": total,
        "rates_per_s": RATES,
        "gunicorn": GUNICORN,
        "page_every_s": PAGE_EVERY,
        "cpus": os.cpu_count(),
        "wall": rec.wall,
        "kinds": kinds,
        "skipped": rec.skipped,
        "windows": per_window,
        "memory": memory,
        "load_average": {"mean": sum(loads) / len(loads), "max": max(loads)},
        "campaign": campaign_result,
        "samples": samples,
    }


def exactly_once(result: dict, total: int) -> dict:
    sink = result["sink"]
    statuses = result["campaign"]["outbox"].get("statuses", {})
    checks = {
        "sink messages == endpoints": sink["messages"] == total,
        "distinct Message-IDs == endpoints": sink["distinct_message_ids"] == total,
        "every outbox row SENT": statuses == {"SENT": total},
        "run COMPLETED": result["campaign"]["outbox"].get("runs") == ["COMPLETED"],
    }
    result["exactly_once"] = checks
    print(
        f"sink: {sink['messages']:,} messages, {sink['distinct_message_ids']:,} distinct Message-IDs; "
        f"outbox: {statuses}"
    )
    for name, ok in checks.items():
        print(f"  {'ok ' if ok else 'FAIL'} {name}")
    return checks


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:]]
    main(arguments[0] if arguments else 1800, arguments[1] if len(arguments) > 1 else 100_000)
