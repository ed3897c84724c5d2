"""PostgreSQL restarted under a running Engage: during a campaign send and during an import.

Real parts only: a private PostgreSQL 15 cluster (tests/reliability/private_pg.py — the shared
server is never touched), the web app in gunicorn, a real django-q2 cluster (`manage.py qcluster`)
on Redis (a private redis-server) or on the ORM broker (its queue in the same database), an
aiosmtpd sink and the moto S3 server. The database is stopped (`pg_ctl stop -m fast`: clients
are disconnected; `-m immediate`: a crash, recovered at the next start) in the middle of the work
and started again a few seconds later, without touching the web server or the cluster.

While it is down, the API answers 503 ServiceUnavailableException in Pinpoint's shape and a page
answers a 503 page (never a 500 or a traceback). Once it is back, the web app and the cluster
reconnect by themselves, and the work a worker was doing when its connection broke goes on where it
stood (engage.dbfaults.ride_out_outage: a step waits for the database and runs again) — nothing
is moved or swept here: every recipient gets exactly one message (one Message-ID; the outcomes
waiting to be recorded are recorded, not sent again), and an import stores every good row once
and reports every bad row.

The test process works on the drill's database through its "default" connection
(private_pg.default_database), so it would run the same in an SQLite suite; it runs in the
PostgreSQL one only, once per CI run.
"""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here

import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf

from audience.imports import ImportDefinition, import_job_create
from audience.models import Endpoint, ImportFailure, ImportJob, JobStatus
from audience.segments import segment_create
from campaigns.channels import channel_update
from campaigns.deliveries import FLUSH_EVERY
from campaigns.models import CampaignActivity, CampaignRun, Delivery, DeliveryStatus, RunState
from campaigns.runs import campaigns_start_due
from projects.models import Role
from projects.services import access_key_create
from tests.campaigns.test_campaign_fault import WORKERS, cluster_env, sink, start_cluster, stop  # noqa: F401
from tests.campaigns.test_campaign_runs import PRO, make_campaign
from tests.campaigns.test_campaign_runs_scale import endpoints
from tests.conftest import make_client, send_raw, send_signed
from tests.engage.test_production import redis_url  # noqa: F401 - a private redis-server
from tests.factories import MembershipFactory, UserFactory
from tests.reliability.private_pg import default_database, free_port, private_postgres, unavailable_reason
from tests.reliability.test_import_kill import BAD_EVERY, csv_text
from tests.reliability.test_import_kill import ROWS as IMPORT_ROWS

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 4_000
STOP_AT = 1_000  # messages at the sink when PostgreSQL is stopped
OUTAGE_PROBES = 3  # rounds of API + page requests while the database is down
GUNICORN = ["--worker-class", "gthread", "--threads", "4", "--no-control-socket", "--graceful-timeout", "5"]
DEADLINE = 60.0  # seconds: only so that a broken drill fails instead of hanging

COMPLETED = JobStatus.COMPLETED

pytestmark = [
    pytest.mark.skipif(bool(unavailable_reason()), reason=unavailable_reason() or ""),
    # The drill brings its own PostgreSQL, so the suite's database does not change it: it runs once,
    # in the PostgreSQL run (CI runs the suite on both), instead of costing its minutes twice.
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="runs in the PostgreSQL run of the suite (it starts its own cluster whatever the suite's database)",
    ),
]


@pytest.fixture(scope="module")
def postgres():
    """The private cluster, with Engage migrated once into a template database."""
    with private_postgres() as cluster:
        seconds = cluster.migrate("engage_template")
        print(f"\nprivate PostgreSQL on port {cluster.port}: migrated in {seconds:.1f} s")
        yield cluster


@pytest.fixture
def database(postgres, django_db_blocker):
    """A fresh copy of the migrated database, this process's "default" connection inside the test."""
    name = f"drill_{uuid.uuid4().hex[:10]}"
    postgres.create_database(name, template="engage_template")
    with django_db_blocker.unblock(), default_database(postgres.url(name)):
        yield name


@pytest.fixture
def owner(database):
    user = UserFactory(username="alice")
    project = MembershipFactory(user=user, role=Role.OWNER).project
    return SimpleNamespace(user=user, project=project)


@pytest.fixture
def broker(request, monkeypatch) -> dict[str, str]:
    """The django-q2 broker of the cluster, and this process enqueuing to it: the environment to add."""
    monkeypatch.setattr(Conf, "SYNC", False)
    if request.param == "orm":
        monkeypatch.setattr(Conf, "ORM", "default")
        return {"ENGAGE_REDIS_URL": ""}
    url = request.getfixturevalue("redis_url")
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", url)
    return {"ENGAGE_REDIS_URL": url}


def process_env(smtp_port: int, extra: dict[str, str]) -> dict[str, str]:
    """test_campaign_fault's worker environment, on the drill's database, with this process's key."""
    env = cluster_env(smtp_port) | {"SECRET_KEY": settings.SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1"} | extra
    return {k: v for k, v in env.items() if v != ""}


@pytest.fixture
def web(owner, tmp_path):
    """gunicorn serving Engage on the drill's database, as bin/run starts it."""
    port = free_port()
    env = process_env(1, {"DJANGO_SETTINGS_MODULE": "tests.reliability.pg_restart_settings"})
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "engage.wsgi:application", "--bind", f"127.0.0.1:{port}", *GUNICORN],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: reachable(url), "gunicorn to answer", server)
        yield SimpleNamespace(url=url, log=tmp_path / "gunicorn.log")
    finally:
        stop(server)
        log.close()


def reachable(url: str) -> bool:
    try:
        return send_raw(SimpleNamespace(url=url), "GET", "/healthz").status in (200, 503)
    except OSError:
        return False


def wait_for(condition, what: str, *processes: subprocess.Popen, state=lambda: "") -> float:
    """Seconds until `condition()` held; fails if a process ended first or after DEADLINE (saying
    `state()`)."""
    began = time.monotonic()
    while not condition():
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"{process.args[:3]} ended ({process.returncode}) before {what}")
        if time.monotonic() - began > DEADLINE:
            raise AssertionError(f"gave up waiting for {what}: {state()}")
        time.sleep(0.05)
    return time.monotonic() - began


class Probe:
    """An API call (GetApp, signed) and a dashboard page (signed in) against the web server."""

    def __init__(self, web, owner) -> None:
        issued = access_key_create(owner.user)
        self.key = (issued.key.access_key_id, issued.secret)
        browser = Client()
        browser.force_login(owner.user)
        self.cookie = f"sessionid={browser.cookies['sessionid'].value}"
        self.server = SimpleNamespace(url=web.url)
        self.path = f"/v1/apps/{owner.project.pk}"
        self.boto = make_client(self.server, *self.key)
        self.app_id = owner.project.pk

    def api(self):
        return send_signed(self.server, "GET", self.path, key_id=self.key[0], secret=self.key[1])

    def page(self):
        return send_raw(self.server, "GET", "/", headers={"Cookie": self.cookie})

    def sdk_error(self) -> dict | None:
        """boto3's GetApp (no retries): the error it raised, None when it succeeded."""
        try:
            self.boto.get_app(ApplicationId=self.app_id)
        except ClientError as error:
            return error.response
        return None

    def up(self) -> bool:
        return self.api().status == 200 and self.page().status == 200


def outage(postgres, probe: Probe, mode: str) -> dict:
    """Stop PostgreSQL (`mode`), probe the web app while it is down, start it again; what was seen."""
    stopping = time.monotonic()
    cutoff = timezone.now()  # leases taken before this instant belong to the outage
    postgres.stop(mode)
    answers = []
    for _ in range(OUTAGE_PROBES):
        answers += [("api", probe.api()), ("page", probe.page())]
    sdk = probe.sdk_error()
    health = send_raw(probe.server, "GET", "/healthz")
    postgres.start()
    connection.close()  # this process's own connection died with the server: the next query reconnects
    return {"answers": answers, "sdk": sdk, "health": health, "down_for": time.monotonic() - stopping, "cutoff": cutoff}


def assert_unavailable_answers(seen: dict) -> None:
    for kind, answer in seen["answers"]:
        assert answer.status == 503, (kind, answer.status, answer.body[:500])
        assert answer.headers.get("retry-after") == "5"
        assert b"Traceback" not in answer.body
        if kind == "api":
            body = answer.json()
            assert set(body) == {"Message", "RequestID"} and body["RequestID"]
            assert answer.headers["x-amzn-errortype"] == "ServiceUnavailableException"
        else:
            assert answer.headers["content-type"].startswith("text/html")
            assert b"briefly unavailable" in answer.body
    assert seen["sdk"] is not None, "GetApp succeeded while the database was down"
    assert seen["sdk"]["Error"]["Code"] == "ServiceUnavailableException"
    assert seen["sdk"]["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert seen["health"].status == 503 and seen["health"].json()["database"] == "error"  # out of the balancer


def send_state(run_id: str, sink) -> str:
    run = CampaignRun.objects.get(pk=run_id)
    rows = Counter(Delivery.objects.values_list("status", flat=True))
    return f"run {run.state} cursor {run.cursor} lease {run.lease_until}; rows {dict(rows)}; sink {sink.count()}"


def unfinished() -> int:
    return Delivery.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]).count()


# Two of the four combinations, to keep the drill short: a clean restart with Redis (send tasks taken
# during the outage fail and are lost: the sweeper re-sends their rows) and a crash with the ORM
# broker (the queue itself is in the database that crashed).
@pytest.mark.parametrize(("broker", "mode"), [("redis", "fast"), ("orm", "immediate")], indirect=["broker"])
def test_a_database_restart_mid_send_answers_503_meanwhile_and_every_recipient_gets_one_message(
    postgres, owner, web, broker, sink, mode, tmp_path, record_property
):
    project = owner.project
    channel_update(
        project, "EMAIL", {"Enabled": True, "FromAddress": "news@example.com", "Identity": "example.com"}, by="t"
    )
    endpoints(project, RECIPIENTS)
    campaign = make_campaign(project, segment_create(project, name="pro", dimensions=PRO), now=timezone.now())
    probe = Probe(web, owner)
    assert probe.up()  # the control: the same requests succeed while the database answers
    log = (tmp_path / "qcluster.log").open("w")
    cluster = start_cluster(process_env(sink.port, broker), log)
    try:
        (run_id,) = campaigns_start_due()  # the tick: the run is made, its first step enqueued
        assert run_id and campaign.pk
        wait_for(
            lambda: sink.count() >= STOP_AT and sink.count() % FLUSH_EVERY != 0,
            f"{STOP_AT} messages at the sink, in the middle of a flush",
            cluster,
        )
        at_stop = sink.count()
        seen = outage(postgres, probe, mode)
        at_start = sink.count()
        back_after = wait_for(probe.up, "the web app to answer again", cluster)
        # Nothing is touched: no lease moved, no sweep called. The workers waited for the database
        # (engage.dbfaults.ride_out_outage) and go on by themselves.
        finished_after = wait_for(
            lambda: CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED and unfinished() == 0,
            "every delivery to end, by the same cluster",
            cluster,
            state=lambda: send_state(run_id, sink),
        )
        wait_for(lambda: sink.count() >= RECIPIENTS, "the last messages at the sink", cluster)
        still_running = cluster.poll() is None
    finally:
        stop(cluster)
        log.close()

    tally = sink.tally()
    duplicates = tally.duplicates
    figures = {
        "mode": mode,
        "broker": "orm" if not broker["ENGAGE_REDIS_URL"] else "redis",
        "at_stop": at_stop,
        "sent_while_down": at_start - at_stop,
        "outage_s": round(seen["down_for"], 2),
        "answers_503": sum(answer.status == 503 for _, answer in seen["answers"]) + 1,
        "web_back_after_s": round(back_after, 2),
        "finished_after_s": round(finished_after, 1),
        "duplicates": duplicates,
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"\nPostgreSQL restart mid-send: {figures}")
    assert_unavailable_answers(seen)
    assert still_running  # the cluster was never restarted
    assert 0 < at_stop < RECIPIENTS
    tally.assert_one_message_each({f"e{n:06d}@example.org" for n in range(RECIPIENTS)})
    assert duplicates == 0  # the outcomes waiting to be recorded when it went were recorded after
    assert Counter(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT: RECIPIENTS}
    assert CampaignActivity.objects.get(run_id=run_id).successful_endpoint_count == RECIPIENTS


# A crash: the harsher case (a chunk commits with synchronous_commit = off, so a crash may lose the
# last committed chunk together with its offset); `fast` passes the same way.
@pytest.mark.parametrize("mode", ["immediate"])
def test_a_database_restart_mid_import_stores_every_good_row_once_and_reports_every_bad_row(
    postgres, owner, web, s3, moto_server, monkeypatch, mode, tmp_path, record_property
):
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")  # the default broker: its queue in the restarted database
    project = owner.project
    probe = Probe(web, owner)
    url = s3.put("people.csv", csv_text())
    job = import_job_create(
        project,
        ImportDefinition(
            format="CSV", s3_url=url, role_arn="arn:aws:iam::1:role/r", define_segment=True, segment_name="Imported"
        ),
    )
    log = (tmp_path / "qcluster.log").open("w")
    cluster = start_cluster(process_env(1, {"ENGAGE_S3_ENDPOINT_URL": moto_server, "ENGAGE_REDIS_URL": ""}), log)
    try:
        wait_for(
            lambda: (
                ImportJob.objects.filter(pk=job.pk, total_processed__gt=0).exclude(status=JobStatus.COMPLETED).exists()
            ),
            "the first chunk committed",
            cluster,
        )
        at_stop = ImportJob.objects.get(pk=job.pk).total_processed
        seen = outage(postgres, probe, mode)
        back_after = wait_for(probe.up, "the web app to answer again", cluster)
        finished_after = wait_for(
            lambda: ImportJob.objects.get(pk=job.pk).status in (JobStatus.COMPLETED, JobStatus.FAILED),
            "the job to end, in the same cluster",
            cluster,
        )
        still_running = cluster.poll() is None
    finally:
        stop(cluster)
        log.close()

    done = ImportJob.objects.get(pk=job.pk)
    bad = IMPORT_ROWS // BAD_EVERY
    figures = {
        "mode": mode,
        "rows_at_stop": at_stop,
        "outage_s": round(seen["down_for"], 2),
        "web_back_after_s": round(back_after, 2),
        "finished_after_s": round(finished_after, 1),
        "status": done.status,
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"\nPostgreSQL restart mid-import: {figures}")
    assert_unavailable_answers(seen)
    assert still_running
    assert done.status == JobStatus.COMPLETED, done.failures
    assert (done.total_processed, done.total_failures, done.new_endpoints) == (IMPORT_ROWS, bad, IMPORT_ROWS - bad)
    keys = list(Endpoint.objects.filter(project=project).values_list("key", flat=True))
    good = {f"im{n:05d}" for n in range(IMPORT_ROWS) if n % BAD_EVERY != BAD_EVERY - 1}
    assert len(keys) == len(good) and set(keys) == good
    lines = list(ImportFailure.objects.filter(job=done).order_by("line").values_list("line", flat=True))
    assert lines == [n + 2 for n in range(IMPORT_ROWS) if n % BAD_EVERY == BAD_EVERY - 1]
