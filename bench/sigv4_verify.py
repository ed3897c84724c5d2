"""SigV4 verification overhead: a signed GetApps against the same request with a browser session.

    .venv/bin/python bench/sigv4_verify.py [requests]

Both go through the whole Django stack in-process (no network), on the database DATABASE_URL
names (default: a throw-away SQLite file), so the difference is the cost of authentication by
signature: parsing, key lookup, decrypting the secret, recomputing the signature.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")

import django

django.setup()

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from projects.services import access_key_create, project_create  # noqa: E402


def signed_headers(key_id: str, secret: str) -> dict:
    request = AWSRequest(method="GET", url="http://testserver/v1/apps")
    SigV4Auth(Credentials(key_id, secret), "mobiletargeting", "us-east-1").add_auth(request)
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.headers.items()}
    return {**headers, "HTTP_HOST": "testserver"}


def timed(label: str, count: int, call) -> float:
    call()  # warm up
    started = time.perf_counter()
    for _ in range(count):
        response = call()
        assert response.status_code == 200, response.content
    elapsed = time.perf_counter() - started
    print(f"{label:<28} {count / elapsed:9.0f} req/s  ({elapsed * 1e6 / count:7.0f} µs per request)")
    return elapsed


def main(count: int) -> None:
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="x")
    project_create(name="Bench", owner=user)
    issued = access_key_create(user)
    headers = signed_headers(issued.key.access_key_id, issued.secret)
    signed, browser = Client(), Client()
    browser.force_login(user)
    print(f"GetApps, {count} requests each, database {django.db.connection.vendor}")
    baseline = timed("session (baseline)", count, lambda: browser.get("/v1/apps"))
    ours = timed("SigV4 signed", count, lambda: signed.get("/v1/apps", **headers))
    print(f"ratio signed / session: {ours / baseline:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
