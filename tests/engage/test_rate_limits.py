"""Rate limits per project and operation: 429 TooManyRequestsException as Pinpoint answers it,
counted in the database or in Redis, atomically across processes.

Time is frozen with time_machine (the live server runs in this process, so it sees the same clock):
a window is a whole second of that clock, and tests move it on by travelling, never by sleeping.
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import time_machine
from botocore.exceptions import ClientError
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from engage.api import ratelimit
from engage.models import RateCounter
from projects.models import Role
from tests.conftest import make_client, send_signed
from tests.factories import MembershipFactory, UserFactory

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
T = 1_900_000_000.25  # a quarter into a window (2030-03-17); any instant works while time stands


def redis_or_skip():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({error}); the Redis counter is untested here")
    return client


@pytest.fixture(params=["database", "redis"])
def backend(request, monkeypatch):
    """Each test that takes it runs once on the database counter and once on Redis."""
    if request.param == "database":
        monkeypatch.delenv(ratelimit.REDIS_ENV, raising=False)
        yield "database"
        return
    client = redis_or_skip()
    prefix = f"engage-test:{uuid.uuid4().hex}:"
    monkeypatch.setenv(ratelimit.REDIS_ENV, REDIS_URL)
    monkeypatch.setenv(ratelimit.PREFIX_ENV, prefix)
    yield "redis"
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def set_limits(monkeypatch, limits) -> None:
    monkeypatch.setenv(ratelimit.LIMITS_ENV, limits if isinstance(limits, str) else json.dumps(limits))


def throttled(call) -> ClientError | None:
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] == "TooManyRequestsException":
            return error
        raise
    return None


# Configuration -----------------------------------------------------------------------------------


def test_defaults_are_pinpoints_burst_quotas():
    limits = ratelimit.parse_limits("")
    assert limits.quota("PutEvents") == 7_000
    assert limits.quota("UpdateEndpoint") == 5_000
    assert limits.quota("SendMessages") == 4_000
    assert limits.quota("CreateSegment") == 25
    assert limits.quota("GetApps") == 300


def test_overrides_keep_the_other_defaults_and_off_lifts_a_limit():
    limits = ratelimit.parse_limits('{"PutEvents": 100, "*": 50, "GetEndpoint": 0, "SendMessages": "off"}')
    assert limits.quota("PutEvents") == 100
    assert limits.quota("GetApps") == 50
    assert limits.quota("GetEndpoint") is None
    assert limits.quota("SendMessages") is None
    assert limits.quota("UpdateEndpoint") == 5_000
    assert ratelimit.parse_limits("off").quota("PutEvents") is None
    assert ratelimit.parse_limits('{"*": "off"}').quota("GetApps") is None


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"PutEvents": -1}', "'PutEvents' must be a whole number"),
        ('{"PutEvents": 1.5}', "'PutEvents' must be a whole number"),
        ('{"PutEvents": true}', "'PutEvents' must be a whole number"),
        ('{"*": "fast"}', "'*' must be a whole number"),
        ('{"PutEvent": 5}', "Pinpoint does not have: PutEvent"),
        ("PutEvents=5", 'must be "off" or a JSON object'),
        ("[5]", 'must be "off" or a JSON object'),
    ],
)
def test_bad_limits_are_refused_with_a_clear_error(raw, says, monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="ENGAGE_API_RATE_LIMITS") as refused:
        ratelimit.parse_limits(raw)
    assert says in str(refused.value)
    set_limits(monkeypatch, raw)
    assert [error.id for error in ratelimit.check_limits()] == ["engage.E101"]


def test_manage_py_check_reports_bad_limits(monkeypatch):
    set_limits(monkeypatch, '{"PutEvent": 5}')
    with pytest.raises(SystemCheckError, match=r"engage\.E101"):
        call_command("check")


# Through the API ---------------------------------------------------------------------------------


@pytest.fixture
def frozen(live_server, transactional_db):
    """The clock stands still at T, once the live server runs and the database is set up."""
    with time_machine.travel(T, tick=False) as traveller:
        yield traveller


def test_over_the_quota_answers_429_and_the_next_window_lets_requests_in(
    backend, monkeypatch, frozen, live_server, user, project, access_key
):
    set_limits(monkeypatch, {"GetApp": 3})
    other_project = MembershipFactory(user=user, role=Role.OWNER).project
    pinpoint = make_client(live_server, *access_key)

    for _ in range(3):
        pinpoint.get_app(ApplicationId=project.id)
    error = throttled(lambda: pinpoint.get_app(ApplicationId=project.id))
    assert error is not None
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "GetApp allows 3 requests per second" in error.response["Error"]["Message"]

    # Pinpoint's shape on the wire: Message and RequestID, the error type in the header.
    raw = send_signed(live_server, "GET", f"/v1/apps/{project.id}", key_id=access_key[0], secret=access_key[1])
    assert raw.status == 429
    assert raw.headers["x-amzn-errortype"] == "TooManyRequestsException"
    assert set(raw.json()) == {"Message", "RequestID"}
    assert raw.json()["RequestID"] == raw.headers["x-amzn-requestid"] != ""

    # Another operation of the same project, the same operation of another project: unaffected.
    pinpoint.get_application_settings(ApplicationId=project.id)
    pinpoint.get_app(ApplicationId=other_project.id)

    frozen.shift(1)
    for _ in range(3):
        pinpoint.get_app(ApplicationId=project.id)
    assert throttled(lambda: pinpoint.get_app(ApplicationId=project.id)) is not None


def test_star_limits_every_other_operation_and_off_lifts_one(monkeypatch, frozen, live_server, project, access_key):
    monkeypatch.delenv(ratelimit.REDIS_ENV, raising=False)
    set_limits(monkeypatch, {"*": 1, "GetApp": "off"})
    pinpoint = make_client(live_server, *access_key)
    for _ in range(5):
        pinpoint.get_app(ApplicationId=project.id)
    pinpoint.get_application_settings(ApplicationId=project.id)
    assert throttled(lambda: pinpoint.get_application_settings(ApplicationId=project.id)) is not None


def test_requests_refused_access_do_not_spend_the_projects_quota(
    monkeypatch, frozen, live_server, project, access_key, pinpoint_for
):
    monkeypatch.delenv(ratelimit.REDIS_ENV, raising=False)
    set_limits(monkeypatch, {"GetApp": 2})
    stranger = pinpoint_for(UserFactory(username="mallory"))
    for _ in range(5):
        with pytest.raises(ClientError) as refused:
            stranger.get_app(ApplicationId=project.id)
        assert refused.value.response["Error"]["Code"] == "NotFoundException"
    owner = make_client(live_server, *access_key)
    owner.get_app(ApplicationId=project.id)
    owner.get_app(ApplicationId=project.id)
    assert throttled(lambda: owner.get_app(ApplicationId=project.id)) is not None


def test_concurrent_requests_never_exceed_the_quota(backend, monkeypatch, frozen, live_server, project, access_key):
    """Eight client threads at once against the threaded live server, one window: exactly the quota
    gets through."""
    if backend == "database" and connection.vendor == "sqlite":
        pytest.skip(
            "the in-memory SQLite test database shares one cache between the server's threads and "
            "answers a concurrent writer 'database table is locked' at once, where a database file "
            "waits; test_processes_share_the_counter covers SQLite files, PostgreSQL runs this test"
        )
    set_limits(monkeypatch, {"GetApp": 7})
    clients = [make_client(live_server, *access_key) for _ in range(8)]
    accepted, refused, failed = [], [], []
    start = threading.Barrier(len(clients))

    def hammer(client):
        start.wait()
        for _ in range(4):
            try:
                client.get_app(ApplicationId=project.id)
            except ClientError as error:
                code = error.response["Error"]["Code"]
                (refused if code == "TooManyRequestsException" else failed).append(error)
            else:
                accepted.append(1)

    threads = [threading.Thread(target=hammer, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failed, [str(error) for error in failed]
    assert (len(accepted), len(refused)) == (7, 25)


def test_an_unreachable_redis_lets_requests_through(monkeypatch, frozen, live_server, project, access_key):
    """The limiter must not take the API down with it: no Redis, no limit (and a logged warning)."""
    set_limits(monkeypatch, {"GetApp": 1})
    monkeypatch.setenv(ratelimit.REDIS_ENV, "redis://127.0.0.1:1/0")
    pinpoint = make_client(live_server, *access_key)
    for _ in range(3):
        pinpoint.get_app(ApplicationId=project.id)


# The counters --------------------------------------------------------------------------------------


def test_windows_are_whole_seconds(backend, transactional_db):
    key = f"project:{uuid.uuid4().hex}:PutEvents"
    assert [ratelimit.count(key, now=T) for _ in range(3)] == [1, 2, 3]
    assert ratelimit.count(key, now=T + 0.7) == 4  # T is x.25: still the same second
    assert ratelimit.count(key, now=T + 0.75) == 1  # the next one
    assert ratelimit.count(f"{key}:other", now=T + 0.75) == 1


def test_the_database_reuses_one_row_per_key_and_drops_stale_ones(monkeypatch, transactional_db):
    monkeypatch.delenv(ratelimit.REDIS_ENV, raising=False)
    for second in range(5):
        ratelimit.count("project:1:PutEvents", now=T + second)
        ratelimit.count("project:1:PutEvents", now=T + second)
    assert list(RateCounter.objects.values_list("key", "window_start", "hits")) == [
        ("project:1:PutEvents", int(T) + 4, 2)
    ]
    # A host whose clock lags counts in the newest window instead of reopening an older one.
    assert ratelimit.count("project:1:PutEvents", now=T + 3) == 3

    ratelimit.count("project:2:GetApp", now=T + 3600)
    assert ratelimit.delete_stale(now=T + 3600 + 5) == 1
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["project:2:GetApp"]


def test_redis_keys_expire(monkeypatch):
    client = redis_or_skip()
    prefix = f"engage-test:{uuid.uuid4().hex}:"
    monkeypatch.setenv(ratelimit.REDIS_ENV, REDIS_URL)
    monkeypatch.setenv(ratelimit.PREFIX_ENV, prefix)
    ratelimit.count("project:1:PutEvents", now=T)
    try:
        assert 0 < client.ttl(f"{prefix}project:1:PutEvents:{int(T)}") <= 5
    finally:
        client.delete(f"{prefix}project:1:PutEvents:{int(T)}")


WORKER = """
import os, sys, time
from pathlib import Path
import django
django.setup()
from engage.api import ratelimit
go, key, hits, limit, now = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
ratelimit.count(key + ":warm-up", now=now)  # connect before the start
while not go.exists():
    time.sleep(0.005)
print(sum(ratelimit.allow(key, limit, now=now) for _ in range(hits)))
"""

MIGRATE = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", "engage", verbosity=0)
"""


def database_url_for_subprocesses(tmp_path) -> str:
    """The database this test runs on, for other processes: the PostgreSQL test database itself;
    on SQLite (an in-memory test database) a fresh file with the counter table."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
        host = settings.get("HOST") or "127.0.0.1"
        port = settings.get("PORT") or 5432
        return f"postgres://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}"
    url = f"sqlite:///{tmp_path / 'ratelimit.sqlite3'}"
    subprocess.run([sys.executable, "-c", MIGRATE], cwd=REPO, env=worker_env(url), check=True, timeout=120)
    return url


def worker_env(database_url: str) -> dict:
    """This process's environment (the limiter's variables included), on the given database."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url}


def test_processes_share_the_counter(backend, transactional_db, tmp_path):
    """Four processes, each with its own connection, count 40 requests apiece into one window
    of one key: exactly the quota is accepted, whichever process got there first."""
    env = worker_env(database_url_for_subprocesses(tmp_path))
    go = tmp_path / "go"
    key = f"project:{uuid.uuid4().hex}:PutEvents"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), key, "40", "55", str(T)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(1.5)  # let them start and connect; correctness does not depend on it
    go.touch()
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0]
    assert sum(int(out.strip()) for out in outputs) == 55
    if backend == "redis" or connection.vendor == "postgresql":  # the same counter as this process
        assert ratelimit.count(key, now=T) == 161  # 160 counted by the workers, this one the 161st


class AppsProbe(APIView):
    """A view outside any project with the throttle attached, as DEFAULT_THROTTLE_CLASSES would."""

    throttle_classes = [ratelimit.PinpointRateThrottle]

    def get(self, request):
        return Response({"Item": []})


def test_the_throttle_counts_views_outside_a_project_per_user(monkeypatch, transactional_db):
    monkeypatch.delenv(ratelimit.REDIS_ENV, raising=False)
    set_limits(monkeypatch, {"GetApps": 2})
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    factory = APIRequestFactory()

    def get_apps(user):
        request = factory.get("/v1/apps")
        force_authenticate(request, user=user)
        return AppsProbe.as_view()(request)

    with time_machine.travel(T, tick=False):
        assert [get_apps(alice).status_code for _ in range(3)] == [200, 200, 429]
        refused = get_apps(alice)
        assert refused["x-amzn-ErrorType"] == "TooManyRequestsException"
        assert "GetApps allows 2 requests per second" in refused.data["Message"]
        assert get_apps(bob).status_code == 200
