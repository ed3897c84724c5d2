"""Email through the delivery pipeline against a raw smtplib loop, to the same local SMTP sink.

    .venv/bin/python bench/email_pipeline.py [messages [mode ...]]   (default: 100000 batches qcluster)

Needs PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to
create a throw-away database, dropped afterwards. The sink is aiosmtpd in its own process, counting
the messages it accepts (it does not parse them). In one run:

- raw: `smtplib.SMTP` over one connection, `sendmail` of the same messages pre-rendered to bytes
  (text and HTML parts, From, To, Subject, Message-ID, List-Unsubscribe), nothing else;
- ours, in a fresh Django process on its own PostgreSQL database: `deliveries_create` writes the
  outbox rows (chunks of 10,000, as a campaign's audience pages would), then they are sent — claim
  by conditional UPDATE, one SMTP connection per batch through Django's email backend, outcomes
  recorded every FLUSH_EVERY messages — in one of two modes:
  - batches: `deliveries_send_batch` on BATCH_SIZE ids at a time, one after another (one worker);
  - qcluster: `deliveries_create` enqueues one task per BATCH_SIZE rows and the real django-q2
    cluster (`manage.py qcluster`, ORM broker, 2 workers as ENGAGE_WORKERS defaults to) runs them;
    its time ends when the last row is SENT (polled every 0.25 s).
  Timed in two parts (create, send) and reported with the peak RSS of the process or its largest
  child. Tracking is off (ENGAGE_PUBLIC_URL unset), as for the raw loop.

Both sides count what the sink received: the numbers are only printed when every message arrived.
"""

import json
import multiprocessing
import os
import resource
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
CREATE_CHUNK = 10_000
FROM = "news@example.com"


def content(n: int) -> tuple[str, str, str, str]:
    """(address, subject, text, html) of message n: a typical personalised email, ~2.5 KB."""
    name = f"Customer {n}"
    address = f"user{n}@example.org"
    subject = f"Your order A-{n:06d} is on its way, {name}"
    lines = [f"Hi {name},", "", f"Order A-{n:06d} left our warehouse today."]
    lines += [f"- item {i}: espresso beans, 1 kg, EUR {12 + i}.50" for i in range(5)]
    lines += ["", "Shipping takes two to four business days; we will email you a tracking link.", "Thanks!"]
    text = "\n".join(lines)
    items = "\n".join(
        f'<li style="margin:4px 0">Item {i}: espresso beans, 1 kg, EUR {12 + i}.50</li>' for i in range(5)
    )
    html = (
        '<!doctype html>\n<html><body style="font-family:Arial,sans-serif;color:#222">\n'
        f'<table width="600" align="center"><tr><td style="padding:24px;background:#f4f4f4">\n'
        f"<h1>Thanks for your order, {name}!</h1>\n<p>Order <strong>A-{n:06d}</strong> left our warehouse today "
        "and is on its way to you.</p></td></tr>\n"
        f'<tr><td style="padding:24px"><h2>What you ordered</h2>\n<ul>\n{items}\n</ul>\n'
        "<p>Shipping usually takes two to four business days. We will email you a tracking link as soon as\n"
        "the parcel leaves our warehouse, and again when it is out for delivery. If something arrives\n"
        "damaged, keep the packaging and tell us within thirty days: returns are free for members.</p>\n"
        '</td></tr><tr><td style="padding:24px;font-size:12px;color:#666">\n'
        f"<p>This message was sent to {address} because you have an account with us.</p>\n"
        "</td></tr></table></body></html>\n"
    )
    return address, subject, text, html


# --- the sink ------------------------------------------------------------------------------------


class Counter:
    def __init__(self, count) -> None:
        self.count = count

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.count.get_lock():
            self.count.value += 1
        return "250 OK"


def sink_main(port, count, ready) -> None:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free port: aiosmtpd does not report the one it bound
        probe.bind(("127.0.0.1", 0))
        port.value = probe.getsockname()[1]
    controller = Controller(Counter(count), hostname="127.0.0.1", port=port.value)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def wait_for(count, expected: int, timeout: float = 120) -> None:
    """The last messages may still be in the sink's hands when the client returns."""
    deadline = time.monotonic() + timeout
    while count.value < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    if count.value != expected:
        raise SystemExit(f"the sink received {count.value} messages, not {expected}")


# --- raw -----------------------------------------------------------------------------------------


def raw_messages(total: int) -> list[tuple[str, bytes]]:
    messages = []
    for n in range(total):
        address, subject, text, html = content(n)
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = FROM
        message["To"] = address
        message["Message-ID"] = f"<raw-{n}@example.com>"
        message["List-Unsubscribe"] = f"<mailto:{FROM}?subject=unsubscribe>"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        messages.append((address, message.as_bytes(policy=SMTP)))
    return messages


def raw_loop(port: int, messages: list[tuple[str, bytes]]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for address, data in messages:
            smtp.sendmail(FROM, [address], data)
    return time.perf_counter() - started


# --- ours ----------------------------------------------------------------------------------------

MODES = {
    "batches": "deliveries_send_batch in BATCH_SIZE batches, one after another, in one process",
    "qcluster": "the django-q2 cluster (manage.py qcluster, ENGAGE_WORKERS=2 as by default) running the tasks",
}


def ours(url: str, port: int, total: int, mode: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": str(ROOT),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_USE_TLS": "0",
        "EMAIL_USE_SSL": "0",
        "ENGAGE_PUBLIC_URL": "",
        "ENGAGE_QUEUE_SYNC": "0",
        "ENGAGE_WORKERS": "2",
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("SECRET_KEY", "bench-only")
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(total), mode], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(total: int, mode: str) -> None:
    """Migrate, a project with an EMAIL channel, then create `total` deliveries and send them."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    from campaigns.channels import channel_update
    from campaigns.deliveries import BATCH_SIZE, OutgoingMessage, deliveries_create, deliveries_send_batch
    from campaigns.models import Delivery, DeliveryChannel, DeliveryStatus
    from projects.services import project_create

    call_command("migrate", verbosity=0)
    project = project_create(name="Bench", owner=get_user_model().objects.create_user("bench"))
    channel_update(project, "EMAIL", {"Enabled": True, "FromAddress": FROM, "Identity": "example.com"}, by="bench")

    started = time.perf_counter()
    ids: list[int] = []
    for start in range(0, total, CREATE_CHUNK):
        chunk = []
        for n in range(start, min(start + CREATE_CHUNK, total)):
            address, subject, text, html = content(n)
            chunk.append(
                OutgoingMessage(
                    channel=DeliveryChannel.EMAIL,
                    address=address,
                    subject=subject,
                    text=text,
                    html=html,
                    from_address=FROM,
                )
            )
        rows = deliveries_create(project, chunk, enqueue=mode == "qcluster")  # tasks of BATCH_SIZE ids
        ids += [row.id for row in rows]
    created = time.perf_counter()
    cpu_before = _cpu_self_and_children()
    if mode == "batches":
        for start in range(0, len(ids), BATCH_SIZE):
            deliveries_send_batch(ids[start : start + BATCH_SIZE])
    else:
        connection.close()  # the cluster forks: no shared connection
        cluster = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=os.environ)
        try:
            while Delivery.objects.filter(status=DeliveryStatus.SENT).count() < total:
                if cluster.poll() is not None:
                    raise SystemExit(f"qcluster ended with {cluster.returncode}")
                time.sleep(0.25)
        finally:
            cluster.terminate()
            cluster.wait(60)
    sent = time.perf_counter()
    send_cpu = _cpu_self_and_children() - cpu_before

    statuses = dict(Delivery.objects.filter(project=project).values_list("status").annotate(n=Count("id")))
    assert statuses == {DeliveryStatus.SENT: total}, statuses
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so it would report the parent's peak.
    peak_kb = int(
        next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM")).split()[1]
    )
    rss_mb = max(peak_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(
        json.dumps(
            {
                "create": created - started,
                "send": sent - created,
                "send_cpu": send_cpu,
                "rss_mb": rss_mb,
                "batch": BATCH_SIZE,
            }
        )
    )


def _cpu_self_and_children() -> float:
    """CPU seconds of this process and its waited-for children (the cluster and its workers)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def cpu_of(pid: int) -> float:
    """CPU seconds a process has used so far (Linux /proc), for the sink's share of each phase."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(sql)


def main(total: int, modes: list[str]) -> None:
    import psycopg

    with psycopg.connect(PG_URL) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    print(f"PostgreSQL {version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {total} messages")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    port, count, ready = multiprocessing.Value("i", 0), multiprocessing.Value("l", 0), multiprocessing.Event()
    sink = multiprocessing.Process(target=sink_main, args=(port, count, ready), daemon=True)
    sink.start()
    ready.wait(30)
    try:
        messages = raw_messages(total)
        size = sum(len(data) for _, data in messages) / total
        sink_cpu, client_cpu = cpu_of(sink.pid), time.process_time()
        raw_seconds = raw_loop(port.value, messages)
        wait_for(count, total)
        client_cpu, sink_cpu = time.process_time() - client_cpu, cpu_of(sink.pid) - sink_cpu
        raw_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        del messages
        print(f"message size ~{size / 1024:.1f} KB")
        print("CPU columns: milliseconds of CPU per message, of the sender (client, or Engage's process and")
        print("its children) and of the sink; PostgreSQL's own CPU is not counted. load: 1-minute load average")
        columns = ("seconds", 8), ("msg/s", 7), ("/ raw", 6), ("peak RSS", 8), ("CPU ms", 6), ("sink ms", 7)
        print(" " * 28 + "".join(f"  {name:>{width}}" for name, width in columns) + "  load")
        label = "raw smtplib loop"
        print(
            f"{label:>28}  {raw_seconds:>8.1f}  {total / raw_seconds:>7.0f}  {1:>5.2f}x  {raw_rss:>5.0f} MB  "
            f"{client_cpu / total * 1000:>6.2f}  {sink_cpu / total * 1000:>7.2f}  {load()}"
        )
        for mode in modes:
            count.value = 0
            name = f"engage_bench_mail_{os.getpid()}_{mode}"
            admin(f"CREATE DATABASE {name}")
            sink_cpu = cpu_of(sink.pid)
            try:
                result = ours(PG_URL.rsplit("/", 1)[0] + "/" + name, port.value, total, mode)
            finally:
                admin(f"DROP DATABASE IF EXISTS {name}")
            wait_for(count, total)
            sink_cpu = cpu_of(sink.pid) - sink_cpu
            for part, seconds in (
                ("create", result["create"]),
                ("send", result["send"]),
                ("total", result["create"] + result["send"]),
            ):
                rss = f"{result['rss_mb']:>5.0f} MB" if part == "total" else ""
                cpu = ""
                if part == "send":
                    cpu = f"  {result['send_cpu'] / total * 1000:>6.2f}  {sink_cpu / total * 1000:>7.2f}  {load()}"
                label = f"{mode}: {part}"
                print(
                    f"{label:>28}  {seconds:>8.1f}  {total / seconds:>7.0f}  {seconds / raw_seconds:>5.2f}x  {rss:>8}"
                    + cpu
                )
    finally:
        sink.terminate()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"a task or batch carries {result['batch']} deliveries")
    for mode in modes:
        print(f"{mode}: {MODES[mode]}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), sys.argv[3])
    else:
        main(int(sys.argv[1]) if sys.argv[1:] else 100_000, sys.argv[2:] or list(MODES))
