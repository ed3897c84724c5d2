"""A private PostgreSQL 15 cluster for drills that stop, restart or crash the database.

The machine's shared PostgreSQL serves other test runs, so a drill never touches it: it starts its
own cluster (initdb in a temporary directory, trust authentication, a free port on 127.0.0.1 and
a socket directory of its own), migrates one template database once, and gives each test a copy.
As root the server runs as the `postgres` user (PostgreSQL refuses to run as root).

`default_database(url)` points this process's "default" connection at one of its databases, so
the test code uses Engage's services and models (and the suite's helpers) against the very
database the web and worker processes use.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dj_database_url

PG_BIN = Path(os.environ.get("ENGAGE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROOT = Path(__file__).resolve().parents[2]


def unavailable_reason() -> str | None:
    """Why a private cluster cannot be started here (None: it can)."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        return f"PostgreSQL server binaries not found in {PG_BIN} (set ENGAGE_TEST_PG_BIN)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL as another user"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivatePostgres:
    """One PostgreSQL cluster in a temporary directory; `stop`/`start` are the drill's levers."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="engage-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")

    def _pg(self, program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr or result.stdout}")
        return result

    def init(self) -> None:
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        # fsync=off: the drills crash the server process, never the machine, so what PostgreSQL
        # wrote is still in the page cache; it makes the migration and the bulk inserts faster.
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=100 -c shared_buffers=64MB"
        )
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: clients are disconnected and the server shuts down cleanly; `immediate`: a crash
        (every server process quits at once; the next start runs crash recovery)."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True).returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def migrate(self, name: str) -> float:
        """Create database `name` and run Engage's migrations on it; the seconds it took."""
        url = self.create_database(name)
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_REPLICA_URL")}
        env.update({"DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url, "PYTHONPATH": str(ROOT)})
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"migrate failed: {result.stderr[-3000:]}")
        return time.monotonic() - began

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            with suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, stopped and removed afterwards whatever happened."""
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@contextmanager
def default_database(url: str) -> Iterator[None]:
    """This thread's "default" connection points at `url` (no persistent connection) inside the
    block; the suite's own connection is put back afterwards."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connections
    from django.db.utils import load_backend

    original = connections["default"]
    settings_dict = connections.configure_settings({"default": dj_database_url.parse(url, conn_max_age=0)})["default"]
    replacement = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
    connections["default"] = replacement
    ContentType.objects.clear_cache()  # ids cached from the suite's database mean nothing here
    try:
        yield
    finally:
        replacement.close()
        connections["default"] = original
        ContentType.objects.clear_cache()
