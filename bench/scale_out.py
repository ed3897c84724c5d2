"""Scale-out on one machine: a campaign to N endpoints sent by 1, 2 and 4 worker hosts sharing one
PostgreSQL and one Redis, each host its own network namespace with one django-q2 worker and its own
local SMTP sink (tests.scaleout; process groups on the host's loopback where namespaces are not
available).

    .venv/bin/python bench/scale_out.py [--hosts 1,2,4] [endpoints]     (default: 200000)

Needs PostgreSQL (BENCH_PG_URL, as bench/campaign_send.py), redis-server, and root for namespaces.
Each host count runs in a fresh database (bench/_scratch.run_child) with the data bench/campaign_send
sets up (N EMAIL endpoints by COPY, a segment of all of them, an IMMEDIATE campaign whose email is
personalised in subject, text and HTML); the hosts are started and idle before the clock starts.

- raw (measured once, in the first database, before ours): bench/campaign_send's — the segment's
  compiled SQL read through a server-side cursor, then `INSERT … SELECT` of the N outbox rows, in
  one process with no Python per row (+events: also the 2 N events ours stores).
- ours: the clock starts at `campaigns_start_due()` (the scheduler tick, enqueued to the hosts'
  Redis); the hosts' workers run the run's step, which splits a large run into lanes (up to
  ENGAGE_CAMPAIGN_RUN_LANES key ranges, each its own task: keyset batches of 1,000 → outbox rows,
  `_campaign.send` events, send tasks of 200 ids), the lanes, and the outbox batches (claim, send
  over SMTP to the host's own sink, record SENT, `_email.send` events). It stops when the run is
  COMPLETED and no row is QUEUED or SENDING (polled every second).

Reported per host count: seconds tick → last SENT, messages per second and the speed-up over one
host; the run's lanes (its writers); "run done" (the run COMPLETED: every outbox row written) and
the writers' rate (rows / run done); exactly once (messages at the sinks, distinct Message-IDs,
distinct recipients: all equal to N, every row SENT); the share of messages each host sent; peak
memory per host (the PSS of a host's cluster processes summed — shared pages counted once —
sampled every second, largest host); the 1-minute load average during ours, mean / max.
"""

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _scratch import ROOT, preamble, run_child  # bench/ is sys.path[0]
from campaign_send import EMAIL, FROM, load_endpoints, raw

STALL = 180  # seconds without progress: the measurement is abandoned


def child(total: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    from audience.segments import segment_create, segment_members
    from campaigns.campaigns import campaign_create
    from campaigns.channels import channel_update
    from campaigns.models import CampaignActivity, CampaignRun, Delivery, DeliveryStatus, RunState
    from campaigns.runs import campaigns_start_due
    from projects.services import project_create
    from tests.scaleout import Hosts, point_broker_at

    count = int(os.environ["SCALEOUT_HOSTS"])
    call_command("migrate", verbosity=0)
    project = project_create(name="Bench", owner=get_user_model().objects.create_user("bench"))
    channel_update(project, "EMAIL", {"Enabled": True, "FromAddress": FROM, "Identity": "example.com"}, by="bench")
    load_endpoints(total, project.id)
    segment = segment_create(
        project, name="Everyone", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    )
    campaign = campaign_create(
        project,
        {
            "Name": "Autumn sale",
            "SegmentId": segment.id,
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
            "MessageConfiguration": EMAIL,
        },
    )
    raw_result = None
    if os.environ.get("SCALEOUT_RAW") == "1":
        raw_result = raw(segment_members(project, segment), campaign, "0" * 32, total)

    workdir = Path(tempfile.mkdtemp(prefix="engage-scaleout-"))
    loads: list[float] = []
    run_done = None
    with Hosts(count, database=connection.settings_dict, workdir=workdir) as hosts:
        point_broker_at(hosts.redis_url)
        time.sleep(1)  # the clusters are up (Hosts waits for their workers) and idle before the clock starts
        progress = ((), -1, time.monotonic())  # the run's and its lanes' cursors, rows waiting, since when
        started = time.perf_counter()
        (run_id,) = campaigns_start_due()
        while True:
            time.sleep(1)
            hosts.check_alive()
            loads.append(os.getloadavg()[0])
            hosts.sample_rss()
            run = CampaignRun.objects.get(pk=run_id)
            pending = Delivery.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]).count()
            cursors = (run.cursor, *run.lanes.order_by("number").values_list("cursor", flat=True))
            if (cursors, pending) != progress[:2]:
                progress = (cursors, pending, time.monotonic())
            elif time.monotonic() - progress[2] > STALL:
                raise SystemExit(f"no progress for {STALL} s (cursors {cursors}, {pending} rows waiting)")
            if run.state != RunState.COMPLETED:
                continue
            run_done = run_done or time.perf_counter() - started
            if not pending:
                break
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 30
        while sum(hosts.counts()) < total and time.monotonic() < deadline:
            time.sleep(0.1)
        hosts.stop_clusters()
        received = hosts.received()
        mode = hosts.describe()
        peaks = [host.peak_rss_kb for host in hosts.hosts]
    shutil.rmtree(workdir, ignore_errors=True)

    statuses = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())
    assert statuses == {DeliveryStatus.SENT: total}, statuses
    activity = CampaignActivity.objects.get(run_id=run_id)
    messages = [pair for per_host in received for pair in per_host]
    print(
        json.dumps(
            {
                "hosts": count,
                "mode": mode,
                "raw": raw_result,
                "ours": elapsed,
                "run_done": run_done,
                "lanes": run.lanes.count(),
                "messages": len(messages),
                "distinct_ids": len({message_id for _rcpt, message_id in messages}),
                "distinct_recipients": len({rcpt for rcpt, _message_id in messages}),
                "sent_rows": statuses.get(DeliveryStatus.SENT, 0),
                "activity_successful": activity.successful_endpoint_count,
                "per_host": [len(per_host) for per_host in received],
                "peak_rss_mb": [kb / 1024 for kb in peaks],
                "load_mean": sum(loads) / len(loads),
                "load_max": max(loads),
            }
        )
    )


def measure(total: int, count: int, with_raw: bool) -> dict:
    env = {"SCALEOUT_HOSTS": str(count), "SCALEOUT_RAW": "1" if with_raw else "0", "PYTHONPATH": str(ROOT)}
    return run_child(__file__, f"scaleout{count}", total, env)


def main(total: int, counts: list[int]) -> None:
    preamble()
    results = []
    header = ("hosts", "lanes", "run done", "written/s", "ours", "msg/s", "speed-up", "ours/raw", "once", "per host")
    header += ("peak RSS", "load")
    for index, count in enumerate(counts):
        r = measure(total, count, with_raw=index == 0)
        results.append(r)
        if index == 0:
            print(r["mode"])
            raw_result = r["raw"]
            raw_seconds = raw_result["read"] + raw_result["insert"]
            print(
                f"endpoints {total:,}; raw: read {raw_result['read']:.1f} s + insert {raw_result['insert']:.1f} s"
                f" = {raw_seconds:.1f} s; + events {raw_seconds + raw_result['events']:.1f} s"
            )
            print("  ".join(f"{h:>11}" for h in header))
        once = r["messages"] == r["distinct_ids"] == r["distinct_recipients"] == r["sent_rows"] == total
        cells = (
            f"{count}",
            f"{r['lanes'] or 1}",
            f"{r['run_done']:.1f} s",
            f"{total / r['run_done']:,.0f}",
            f"{r['ours']:.1f} s",
            f"{total / r['ours']:,.0f}",
            f"{results[0]['ours'] / r['ours']:.2f}x",
            f"{r['ours'] / raw_seconds:.1f}x",
            "yes" if once else f"NO {r['messages']}/{r['distinct_ids']}",
            "/".join(f"{n * 100 // total}%" for n in r["per_host"]),
            f"{max(r['peak_rss_mb']):.0f} MB",
            f"{r['load_mean']:.1f}/{r['load_max']:.1f}",
        )
        print("  ".join(f"{c:>11}" for c in cells), flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("lanes: the run's writers (campaigns.runs.engine: key ranges, each its own task; 1: the run's step)")
    print("run done: the run COMPLETED (every outbox row written); written/s: rows / run done; ours: the last row SENT")
    print("once: messages at the sinks = distinct Message-IDs = distinct recipients = SENT rows = endpoints")
    print("peak RSS: a host's cluster (sentinel, pusher, monitor, worker), PSS summed, largest host")
    print("load: the 1-minute load average during ours, mean/max")
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        args = sys.argv[1:]
        counts = [1, 2, 4]
        if args[:1] == ["--hosts"]:
            counts = [int(n) for n in args[1].split(",")]
            args = args[2:]
        main(int(args[0]) if args else 200_000, counts)
