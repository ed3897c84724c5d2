"""An import job survives its worker killed with SIGKILL: a 20,000-row CSV import (with bad rows
among the good) run by a real django-q2 cluster (`manage.py qcluster`) reading the file from the
moto S3 server; the cluster's process group is killed in the middle of the job and a new cluster
finishes it. PostgreSQL only: the cluster is another process sharing the test database (SQLite's
test database is in memory)."""

import os
import signal
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from audience.imports import CHUNK_ROWS, ImportDefinition, import_job_create, import_jobs_sweep
from audience.models import Endpoint, ImportFailure, ImportJob, JobStatus, SegmentMember
from tests.campaigns.test_campaign_fault import cluster_env, start_cluster, stop, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: the worker cluster is another process sharing the test database "
        "(SQLite's test database is in memory)",
    ),
]

ROWS = 20_000
BAD_EVERY = 1_000  # every 1,000th row has an unknown channel: 20 failed rows


def csv_text() -> str:
    lines = ["Id,ChannelType,Address,Attributes.n"]
    for n in range(ROWS):
        channel = "FAX" if n % BAD_EVERY == BAD_EVERY - 1 else "EMAIL"
        lines.append(f"im{n:05d},{channel},im{n:05d}@example.org,{n}")
    return "\r\n".join(lines) + "\r\n"


def test_an_import_whose_cluster_is_killed_stores_every_good_row_once_and_reports_every_bad_row(
    s3, project, moto_server, monkeypatch, tmp_path
):
    monkeypatch.setattr(Conf, "SYNC", False)  # this process enqueues for the cluster
    url = s3.put("people.csv", csv_text())
    env = cluster_env(port=1) | {"ENGAGE_S3_ENDPOINT_URL": moto_server}
    log = (tmp_path / "qcluster.log").open("w")
    job = import_job_create(
        project,
        ImportDefinition(
            format="CSV", s3_url=url, role_arn="arn:aws:iam::1:role/r", define_segment=True, segment_name="Imported"
        ),
    )

    def mid_job() -> bool:
        current = ImportJob.objects.get(pk=job.pk)
        return current.status != JobStatus.COMPLETED and current.total_processed >= CHUNK_ROWS

    first = start_cluster(env, log)
    try:
        wait_until(mid_job, "the first chunk committed", first)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    finally:
        stop(first, signal.SIGKILL)
    at_kill = ImportJob.objects.get(pk=job.pk)
    stored_at_kill = Endpoint.objects.filter(project=project).count()
    # The dead worker's claim (LEASE) and the broker's lock on its task (Q_CLUSTER retry) lapse
    # with time; they are moved to the past instead of waited for, and the sweep the cluster's
    # schedule runs every minute is called here.
    ImportJob.objects.filter(pk=job.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=1))
    import_jobs_sweep()
    second = start_cluster(env, log)
    try:
        wait_until(
            lambda: ImportJob.objects.get(pk=job.pk).status in (JobStatus.COMPLETED, JobStatus.FAILED),
            "the job to end",
            second,
        )
    finally:
        stop(second)
        log.close()

    done = ImportJob.objects.get(pk=job.pk)
    bad = ROWS // BAD_EVERY
    print(f"killed at {at_kill.total_processed} rows ({stored_at_kill} endpoints stored), status {at_kill.status}")
    assert at_kill.status != JobStatus.COMPLETED and 0 < stored_at_kill < ROWS - bad  # killed mid-job
    assert done.status == JobStatus.COMPLETED
    assert (done.total_processed, done.total_failures, done.new_endpoints) == (ROWS, bad, ROWS - bad)
    keys = list(Endpoint.objects.filter(project=project).values_list("key", flat=True))
    good = {f"im{n:05d}" for n in range(ROWS) if n % BAD_EVERY != BAD_EVERY - 1}
    assert len(keys) == len(good) and set(keys) == good
    assert SegmentMember.objects.filter(segment=done.segment).count() == len(good)
    failures = list(ImportFailure.objects.filter(job=done).order_by("line").values_list("line", "reason"))
    assert [line for line, _ in failures] == [n + 2 for n in range(ROWS) if n % BAD_EVERY == BAD_EVERY - 1]
    assert all(reason.startswith("ChannelType must be one of") for _, reason in failures)
    assert len(done.failures) == bad
    assert sorted(done.failures) == sorted(f"people.csv line {line}: {reason}" for line, reason in failures)
