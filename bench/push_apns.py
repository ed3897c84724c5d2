"""APNs pushes through the delivery pipeline against a raw httpx HTTP/2 loop, to the same local server.

    .venv/bin/python bench/push_apns.py [messages]      (default: 5000)

Needs PostgreSQL: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used to
create a throw-away database, dropped afterwards. The server plays APNs: hypercorn over TLS (HTTP/2 by
ALPN, a certificate authority made for the run) in its own process, answering 200 with the apns-id
and counting requests. In one run:

- raw: one `httpx.Client` over HTTP/2 (TCP_NODELAY, as ours), one ES256 provider token signed up
  front, a POST per message of the same JSON body and headers (apns-topic, apns-push-type,
  apns-priority, apns-id), one at a time;
- ours: a fresh Django process on the PostgreSQL database: `deliveries_create` writes the outbox rows,
  then `deliveries_send_batch` sends them in BATCH_SIZE batches as the worker's tasks do — claim by
  conditional UPDATE, the project's APNS channel loaded and decrypted once per batch, the provider
  token from the process cache, one HTTP/2 connection per batch, outcomes recorded every FLUSH_EVERY.

Both sides count what the server received: the numbers are only printed when every push arrived.
"""

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DEVICE = "a1b2c3d4" * 8
TEAM_ID, KEY_ID, BUNDLE = "TEAM123456", "KEY1234567", "com.example.app"


def body(n: int) -> dict:
    return {"Title": f"Order A-{n:06d} shipped", "Body": "Your espresso beans are on their way.", "Badge": 1}


# --- the server ----------------------------------------------------------------------------------


def server_main(directory: str, port, count, ready) -> None:
    from tests.campaigns.push_servers import LoopbackAuthority, ProviderServer

    server = ProviderServer(LoopbackAuthority(Path(directory)))
    server.config.keep_alive_max_requests = 10**9  # hypercorn closes a connection after 1000 by default
    server.start()

    def answer(request):
        with count.get_lock():
            count.value += 1
        server.received.clear()  # keep no history: this server only counts
        return 200, {"apns-id": request.headers.get("apns-id", "")}, b""

    server.routes["/3/device/"] = answer
    port.value = server.port
    ready.set()
    while True:
        time.sleep(3600)


def wait_for(count, expected: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while count.value < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    if count.value != expected:
        raise SystemExit(f"the server received {count.value} pushes, not {expected}")


# --- raw -----------------------------------------------------------------------------------------


def raw_loop(url: str, ca: str, key_pem: str, total: int) -> float:
    import ssl

    import httpx
    import jwt

    token = jwt.encode({"iss": TEAM_ID, "iat": int(time.time())}, key_pem, algorithm="ES256", headers={"kid": KEY_ID})
    payloads = [
        json.dumps({"aps": {"alert": {"title": b["Title"], "body": b["Body"]}, "badge": 1}}).encode()
        for b in map(body, range(total))
    ]
    started = time.perf_counter()
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]  # as Engage's push client
    transport = httpx.HTTPTransport(http2=True, verify=ssl.create_default_context(cafile=ca), socket_options=nodelay)
    with httpx.Client(transport=transport) as client:
        for content in payloads:
            headers = {
                "authorization": f"bearer {token}",
                "apns-topic": BUNDLE,
                "apns-push-type": "alert",
                "apns-priority": "10",
                "apns-id": str(uuid.uuid4()),
            }
            response = client.post(f"{url}/3/device/{DEVICE}", content=content, headers=headers)
            assert response.status_code == 200 and response.http_version == "HTTP/2"
    return time.perf_counter() - started


# --- ours ----------------------------------------------------------------------------------------


def ours(database_url: str, url: str, ca: str, key_pem: str, total: int) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "ENGAGE_APNS_URL": url,
        "ENGAGE_PUSH_CA_BUNDLE": ca,
        "BENCH_TOKEN_KEY": key_pem,
    }
    env.setdefault("SECRET_KEY", "bench-only")
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(total)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(total: int) -> None:
    """Migrate, a project with an APNS channel (token key), then create and send `total` deliveries."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db.models import Count

    from campaigns.channels import channel_update
    from campaigns.deliveries import BATCH_SIZE, OutgoingMessage, deliveries_create, deliveries_send_batch
    from campaigns.models import Delivery, DeliveryChannel, DeliveryStatus
    from projects.services import project_create

    call_command("migrate", verbosity=0)
    project = project_create(name="Bench", owner=get_user_model().objects.create_user("bench"))
    channel = {"BundleId": BUNDLE, "TeamId": TEAM_ID, "TokenKeyId": KEY_ID, "TokenKey": os.environ["BENCH_TOKEN_KEY"]}
    channel_update(project, "APNS", channel, by="bench")

    started = time.perf_counter()
    messages = [OutgoingMessage(channel=DeliveryChannel.APNS, address=DEVICE, payload=body(n)) for n in range(total)]
    ids = [row.id for row in deliveries_create(project, messages, enqueue=False)]
    created = time.perf_counter()
    for start in range(0, len(ids), BATCH_SIZE):
        deliveries_send_batch(ids[start : start + BATCH_SIZE])
    sent = time.perf_counter()

    statuses = dict(Delivery.objects.filter(project=project).values_list("status").annotate(n=Count("id")))
    assert statuses == {DeliveryStatus.SENT: total}, statuses
    print(json.dumps({"create": created - started, "send": sent - created, "batch": BATCH_SIZE}))


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(sql)


def main(total: int) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {total} pushes, one at a time over HTTP/2")
    with tempfile.TemporaryDirectory() as directory:
        port, count, ready = multiprocessing.Value("i", 0), multiprocessing.Value("l", 0), multiprocessing.Event()
        server = multiprocessing.Process(target=server_main, args=(directory, port, count, ready), daemon=True)
        server.start()
        ready.wait(30)
        url, ca = f"https://127.0.0.1:{port.value}", str(Path(directory) / "ca.pem")
        name = f"engage_bench_push_{os.getpid()}"
        try:
            raw_seconds = raw_loop(url, ca, key_pem, total)
            wait_for(count, total)
            count.value = 0
            admin(f"CREATE DATABASE {name}")
            try:
                result = ours(PG_URL.rsplit("/", 1)[0] + "/" + name, url, ca, key_pem, total)
            finally:
                admin(f"DROP DATABASE IF EXISTS {name}")
            wait_for(count, total)
        finally:
            server.terminate()

    pipeline = result["create"] + result["send"]
    print(f"pipeline batches of {result['batch']}")
    print(f"{'':>22}  {'seconds':>8}  {'push/s':>7}  {'/ raw':>6}")
    print(f"{'raw httpx h2 loop':>22}  {raw_seconds:>8.2f}  {total / raw_seconds:>7.0f}  {1:>5.2f}x")
    for label, seconds in (
        ("pipeline: create", result["create"]),
        ("pipeline: send", result["send"]),
        ("pipeline: total", pipeline),
    ):
        print(f"{label:>22}  {seconds:>8.2f}  {total / seconds:>7.0f}  {seconds / raw_seconds:>5.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        main(int(sys.argv[1]) if sys.argv[1:] else 5000)
