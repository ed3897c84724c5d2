"""Production operation: the deploy check, /healthz, /metrics, JSON logs with request ids, the CSP.

Settings read at start (DEBUG, the HTTPS defaults, the broker, the log format) are tested in a fresh
Python process with a controlled environment; the rest in the test process.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from django_q.tasks import async_task
from prometheus_client.parser import text_string_to_metric_families

from audience.models import Event
from audience.segments import estimate
from audience.streams.services import events_insert
from campaigns.models import Delivery, DeliveryStatus

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a production host, with nothing inherited but PATH."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "engage.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "engage.example.com,testserver",
        "ENGAGE_PUBLIC_URL": "https://engage.example.com",
        "ENGAGE_VAR_DIR": str(tmp_path),
        **overrides,
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run(env, sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING")


# Requests made by the Django test client in a process started with the given environment; prints
# [{status, headers, body}] as JSON, its log lines going to stderr as configured.
REQUESTS = """
import json, sys, django
django.setup()
from django.test import Client
from django.utils import timezone
client = Client()
out = []
for path, kwargs in json.loads(sys.argv[1]):
    r = client.get(path, **kwargs)
    out.append({"status": r.status_code, "headers": dict(r.headers), "body": r.content.decode()})
print(json.dumps(out))
"""


def requests_in_process(env: dict[str, str], *requests: tuple[str, dict]) -> tuple[list[dict], str]:
    result = run(env, sys.executable, "-c", REQUESTS, json.dumps(requests))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real Redis server on a free loopback port, for the broker's health."""
    tmp_path = tmp_path_factory.mktemp("redis")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = closed_port()
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def production_process(tmp_path_factory, redis_url) -> tuple[dict[str, dict], str]:
    """A production process (HTTPS public URL, Redis broker, DEBUG-level logs) answering a few
    requests: {name: response} and its standard error."""
    requests = {
        "plain_login": ("/login/", {}),
        "plain_health": ("/healthz", {}),
        "health": ("/healthz", {"HTTP_X_FORWARDED_PROTO": "https"}),
        "api": ("/v1/apps", {"HTTP_X_FORWARDED_PROTO": "https"}),
    }
    env = production_env(tmp_path_factory.mktemp("var"), LOG_LEVEL="DEBUG", ENGAGE_REDIS_URL=redis_url)
    responses, stderr = requests_in_process(env, *requests.values())
    return dict(zip(requests, responses, strict=True)), stderr


def metrics(client: Client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_deploy_check_passes_with_production_environment(tmp_path):
    result = deploy_check(production_env(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_without_hsts_or_with_a_plain_http_public_url(tmp_path):
    env = production_env(tmp_path)
    checks = [
        subprocess.Popen(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=ROOT,
            env=env | changed,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for changed in ({"SECURE_HSTS_SECONDS": "0"}, {"ENGAGE_PUBLIC_URL": "http://engage.example.com"})
    ]
    (_, no_hsts), (_, http) = [check.communicate(timeout=60) for check in checks]

    assert [check.returncode for check in checks] == [1, 1]
    assert "security.W004" in no_hsts and "security.W008" not in no_hsts
    assert "security.W004" in http and "security.W008" in http


def test_production_redirects_to_https_but_not_health_checks_and_sends_hsts_on_https(production_process):
    responses, _ = production_process

    assert responses["plain_login"]["status"] == 301
    assert responses["plain_login"]["headers"]["Location"] == "https://testserver/login/"
    assert responses["plain_health"]["status"] == 200
    assert "Strict-Transport-Security" not in responses["plain_health"]["headers"]
    assert responses["health"]["headers"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_production_logs_are_json_lines_with_the_request_id(production_process):
    responses, stderr = production_process

    # Python's own warnings (whitenoise: no collected static files) are not log records.
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]

    logged = {(line["path"], line["request_id"]): line for line in lines if line["logger"] == "engage.request"}
    health = logged[("/healthz", responses["health"]["headers"]["X-Request-ID"])]
    assert (health["status"], health["level"], health["method"]) == (200, "DEBUG", "GET")
    assert logged[("/v1/apps", responses["api"]["headers"]["x-amzn-RequestId"])]["status"] == 403


def test_debug_logs_are_readable_text(tmp_path):
    env = production_env(tmp_path, DEBUG="1", ALLOWED_HOSTS="testserver")

    (page,), stderr = requests_in_process(env, ("/login/", {}))

    assert f"INFO engage.request [{page['headers']['X-Request-ID']}] GET /login/ 200" in stderr


def test_a_proxy_request_id_is_kept(client):
    response = client.get("/login/", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")

    assert response["X-Request-ID"] == "0123456789abcdef0123456789abcdef"


def test_a_malformed_request_id_is_replaced(client):
    response = client.get("/login/", HTTP_X_REQUEST_ID="<script>")

    assert response["X-Request-ID"] != "<script>" and len(response["X-Request-ID"]) == 36


def test_pages_carry_a_content_security_policy(client, user):
    client.force_login(user)

    response = client.get("/", follow=True)

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "frame-ancestors 'none'" in policy


def test_api_responses_carry_no_page_policy(client):
    response = client.get("/v1/apps")

    assert "Content-Security-Policy" not in response


@pytest.mark.django_db
def test_healthz_answers_ok_without_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_with_a_reachable_redis_broker(production_process):
    responses, _ = production_process

    assert responses["health"]["status"] == 200
    assert json.loads(responses["health"]["body"]) == {"database": "ok", "broker": "ok"}


def test_healthz_503_when_the_redis_broker_is_unreachable(tmp_path):
    env = production_env(tmp_path, ENGAGE_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")

    (health,), stderr = requests_in_process(env, ("/healthz", {}))

    assert health["status"] == 503
    assert json.loads(health["body"]) == {"database": "ok", "broker": "error"}
    assert "healthz: the broker does not answer" in stderr


def test_healthz_503_when_the_database_is_unreachable(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=f"postgres://engage@127.0.0.1:{closed_port()}/engage")

    (health,), _ = requests_in_process(env, ("/healthz", {}))

    assert health["status"] == 503
    assert json.loads(health["body"]) == {"database": "error", "broker": "error"}


def test_healthz_checks_the_replica_when_one_is_configured(tmp_path, redis_url):
    env = production_env(
        tmp_path, ENGAGE_REDIS_URL=redis_url, DATABASE_REPLICA_URL=f"sqlite:///{tmp_path / 'replica.sqlite3'}"
    )

    (health,), _ = requests_in_process(env, ("/healthz", {}))

    assert health["status"] == 200
    assert json.loads(health["body"]) == {"database": "ok", "broker": "ok", "replica": "ok"}


def test_healthz_reports_an_unreachable_replica_but_keeps_the_host_in_service(tmp_path, redis_url):
    env = production_env(
        tmp_path,
        ENGAGE_REDIS_URL=redis_url,
        DATABASE_REPLICA_URL=f"postgres://engage@127.0.0.1:{closed_port()}/engage",
    )

    (health,), stderr = requests_in_process(env, ("/healthz", {}))

    assert health["status"] == 200
    assert json.loads(health["body"]) == {"database": "ok", "broker": "ok", "replica": "error"}
    assert "healthz: the replica does not answer" in stderr


@pytest.mark.django_db
def test_metrics_count_requests_by_view_and_status(client):
    key = ("engage_http_requests_total", (("method", "GET"), ("status", "200"), ("view", "login")))
    before = metrics(client).get(key, 0)

    client.get("/login/")
    client.get("/login/")
    client.get("/no-such-page/")

    after = metrics(client)
    assert after[key] == before + 2
    assert after[("engage_http_requests_total", (("method", "GET"), ("status", "404"), ("view", "unmatched")))] >= 1
    assert after[("engage_http_request_duration_seconds_count", (("view", "login"),))] >= 2


@pytest.mark.django_db
def test_metrics_show_the_outbox_backlog_by_channel_and_status(client, project):
    for n, (channel, status) in enumerate(
        [("EMAIL", "QUEUED"), ("EMAIL", "QUEUED"), ("SMS", "SENDING"), ("EMAIL", "SENT"), ("SMS", "FAILED_PERMANENT")]
    ):
        Delivery.objects.create(project=project, channel=channel, address="a", message_id=f"<{n}@x>", status=status)

    found = metrics(client)

    def backlog(channel: str, status: str) -> float:
        return found[("engage_outbox_deliveries", (("channel", channel), ("status", status)))]

    assert (backlog("EMAIL", "QUEUED"), backlog("SMS", "SENDING")) == (2, 1)
    assert (backlog("EMAIL", "SENDING"), backlog("SMS", "QUEUED"), backlog("GCM", "QUEUED")) == (0, 0, 0)
    assert not any(labels and dict(labels).get("status") in {"SENT", "FAILED_PERMANENT"} for _, labels in found)
    assert DeliveryStatus.SENT not in {dict(labels).get("status") for _, labels in found}


@pytest.mark.django_db
def test_metrics_count_todays_deliveries_by_channel_source_and_outcome(client, project):
    """From the analytics rollup: the events the outbox stores for each outcome, whichever process sent."""
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    rows = [
        ("_email.send", now, "e1", {}),
        ("_email.send", now, "e2", {}),
        ("_email.hardbounce", now, "e2", {}),  # bounced after it was accepted
        ("_email.hardbounce", now, "e3", {"error": "550 no such user"}),  # refused: failed
        ("_SMS.BUFFERED", now, "s1", {}),
        ("_email.send", yesterday, "old", {}),  # before midnight: not counted
    ]
    events_insert(
        [
            Event(
                project=project,
                endpoint_key="",
                client_event_id=f"{kind}:{message}",
                event_type=kind,
                timestamp=when,
                attributes={"message_id": message, "to": f"{message}@example.org", **extra},
            )
            for kind, when, message, extra in rows
        ]
    )

    found = metrics(client)

    def delivered(channel: str, outcome: str) -> float | None:
        return found.get(
            ("engage_deliveries_total", (("channel", channel), ("outcome", outcome), ("source", "TRANSACTIONAL")))
        )

    assert (delivered("EMAIL", "accepted"), delivered("EMAIL", "bounced"), delivered("EMAIL", "failed")) == (2, 1, 1)
    assert delivered("SMS", "accepted") == 1


@pytest.mark.django_db(transaction=True)
def test_metrics_show_the_task_queue_depth(client):
    assert metrics(client)[("engage_queue_depth", ())] == 0

    async_task("math.floor", 1.5, sync=False)
    async_task("math.floor", 2.5, sync=False)

    found = metrics(client)
    assert found[("engage_queue_depth", ())] == 2
    assert found[("engage_broker_up", ())] == 1


@pytest.mark.django_db
def test_metrics_time_segment_estimates(client, project):
    key = ("engage_segment_estimate_duration_seconds_count", ())
    before = metrics(client).get(key, 0)

    estimate(project, {"Dimensions": {}})

    assert metrics(client)[key] == before + 1


def test_metrics_refuse_other_hosts(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403


def test_metrics_refuse_loopback_requests_that_came_through_a_proxy(client):
    response = client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert response.status_code == 403


@pytest.mark.django_db
def test_metrics_accept_the_bearer_token_from_anywhere(client, settings):
    settings.ENGAGE_METRICS_TOKEN = "s3cret-token"

    good = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token")
    bad = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-tokeN")

    assert good.status_code == 200 and b"engage_http_requests_total" in good.content
    assert bad.status_code == 403


def test_without_a_token_configured_an_empty_bearer_is_refused(client, settings):
    settings.ENGAGE_METRICS_TOKEN = ""

    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 403


def test_metrics_add_up_every_gunicorn_worker_in_multiprocess_mode(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = closed_port()
    env = production_env(tmp_path, ENGAGE_PUBLIC_URL="", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    gunicorn = [sys.executable, "-m", "gunicorn", "engage.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen([*gunicorn, "--workers", "2"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        answered = []
        for _ in range(12):
            answered.append(get(port, "/v1/apps", deadline=time.monotonic() + 20)[1]["x-amzn-RequestId"])
        scrapes = [get(port, "/metrics")[2] for _ in range(4)]
    finally:
        server.terminate()
        server.wait(timeout=20)

    def forbidden_api_calls(scrape: str) -> float:
        return sum(
            sample.value
            for family in text_string_to_metric_families(scrape)
            for sample in family.samples
            if sample.name == "engage_http_requests_total" and sample.labels["status"] == "403"
        )

    assert len(set(answered)) == 12
    assert {forbidden_api_calls(scrape) for scrape in scrapes} == {12}
    # Both workers answered some of them (each writes its own files: counter_<pid>.db...).
    assert len({path.stem.split("_")[-1] for path in metrics_dir.iterdir()}) == 2


def get(port: int, path: str, *, deadline: float = 0) -> tuple[int, dict, str]:
    """GET from the server on `port`, retrying refused connections until `deadline` (it is starting)."""
    import http.client

    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path, headers={"Host": "testserver"})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# engage.settings evaluated afresh for each environment, in one process (no Django setup needed).
SETTINGS_FOR = """
import importlib, json, os, sys
base = dict(os.environ)
out = []
for env in json.loads(sys.argv[1]):
    os.environ.clear()
    os.environ.update(base | env)
    try:
        sys.modules.pop("engage.settings", None)
        s = importlib.import_module("engage.settings")
    except Exception as error:
        out.append({"error": f"{type(error).__name__}: {error}"})
        continue
    names = ["DEBUG", "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
             "SESSION_COOKIE_SECURE", "SILENCED_SYSTEM_CHECKS"]
    out.append({name: getattr(s, name, None) for name in names})
print(json.dumps(out))
"""


def test_https_settings_follow_the_environment(tmp_path):
    cases = [
        {},
        {"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Ssl: on"},
        {"SECURE_PROXY_SSL_HEADER": ""},
        {"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"},
        {"SECURE_HSTS_PRELOAD": "1"},
        {"ENGAGE_PUBLIC_URL": ""},
        {"DEBUG": "1"},
    ]

    result = run(production_env(tmp_path), sys.executable, "-c", SETTINGS_FOR, json.dumps(cases))

    assert result.returncode == 0, result.stderr
    default, custom, no_proxy, malformed, preload, no_https, debug = json.loads(result.stdout)
    assert default["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (default["SECURE_SSL_REDIRECT"], default["SECURE_HSTS_SECONDS"]) == (True, 31536000)
    assert default["SILENCED_SYSTEM_CHECKS"] == ["security.W021"]
    assert custom["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SSL", "on"]
    assert no_proxy["SECURE_PROXY_SSL_HEADER"] is None
    assert malformed["error"].startswith("ImproperlyConfigured: SECURE_PROXY_SSL_HEADER must read")
    assert preload["SILENCED_SYSTEM_CHECKS"] == []
    assert (no_https["SECURE_SSL_REDIRECT"], no_https["SECURE_HSTS_SECONDS"], no_https["SESSION_COOKIE_SECURE"]) == (
        False,
        0,
        True,
    )
    assert (debug["DEBUG"], debug["SECURE_SSL_REDIRECT"], debug["SECURE_PROXY_SSL_HEADER"]) == (True, None, None)
