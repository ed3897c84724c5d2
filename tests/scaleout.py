"""Worker "hosts" on one machine, for the scale-out test and bench: N django-q2 clusters
(`manage.py qcluster`, ENGAGE_WORKERS per host, 1 by default) sharing one PostgreSQL and one Redis.

Each host is its own network namespace (`ip netns add`, its loopback up) when the machine allows it
(root and iproute2), holding its cluster and its own local MTA: an SMTP sink (aiosmtpd) on that
namespace's 127.0.0.1:2525 that appends "recipient<TAB>Message-ID" of every message it accepts to
the host's file before answering 250. Every host's EMAIL_HOST is the same 127.0.0.1:2525, which
reaches its own sink only. PostgreSQL is reached over its unix socket and Redis (a private
redis-server started here, nothing saved) over a unix socket in the work directory: the file system
is shared across namespaces, so no traffic leaves a loopback and nothing is forwarded. Where
namespaces are unavailable (not root, no `ip`, ENGAGE_SCALEOUT_NETNS=0, or no PostgreSQL socket),
hosts are separate process groups on this machine's loopback, each sink on a port of its own.

No Django import at module level: the harness only starts, watches and stops processes, so the
test (tests.settings) and the bench child (engage.settings) both use it. Run as
`python -m tests.scaleout sink PORT FILE` it is the sink.
"""

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
SINK_PORT = 2525  # inside a namespace every host's sink has this port
PG_SOCKET_DIR = os.environ.get("ENGAGE_SCALEOUT_PG_SOCKET", "/var/run/postgresql")
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
START_TIMEOUT = 30.0


def netns_unavailable() -> str:
    """Why hosts cannot be network namespaces here ('' when they can)."""
    if os.environ.get("ENGAGE_SCALEOUT_NETNS", "1") == "0":
        return "ENGAGE_SCALEOUT_NETNS=0"
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no `ip` (iproute2)"
    if not Path(PG_SOCKET_DIR, ".s.PGSQL.5432").exists():
        return f"no PostgreSQL unix socket in {PG_SOCKET_DIR}"
    return ""


def database_urls(settings: dict) -> tuple[str, str]:
    """(over the unix socket, over TCP) URLs of a Django database settings dict."""
    user, password, name = settings["USER"], settings.get("PASSWORD") or "", settings["NAME"]
    credentials = f"{quote(user)}:{quote(password)}" if password else quote(user)
    host = settings.get("HOST") or "127.0.0.1"
    tcp = f"postgres://{credentials}@{host}:{settings.get('PORT') or 5432}/{name}"
    return f"postgres://{credentials}@{quote(PG_SOCKET_DIR, safe='')}/{name}", tcp


def point_broker_at(redis_url: str) -> None:
    """Make this process enqueue to the hosts' Redis (django-q2 reads Conf on every enqueue)."""
    from django_q.conf import Conf

    Conf.ORM, Conf.REDIS, Conf.SYNC = None, redis_url, False


def _wait_for(condition, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _stop(*processes: subprocess.Popen | None) -> None:
    """Stop processes each started in a session of its own: SIGTERM to the leader (a django-q2
    cluster stops its workers itself; a SIGTERM to every one of them at once hangs it), then
    SIGKILL to whatever is left of the group."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(deadline - time.monotonic(), 0.1))
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pss_kb(pid: int) -> int:
    """A process's proportional set size: its resident memory with pages shared by the cluster's
    forked processes counted once across them (summing VmRSS would count them per process)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _session_members(sid: int) -> list[int]:
    """The processes of session `sid` (a host's cluster: sentinel, pusher, monitor, workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == sid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


@dataclass
class Host:
    index: int
    netns: str  # '' when the host is a process group on this machine's loopback
    sink_port: int
    sink_file: Path
    log: Path
    sink: subprocess.Popen | None = None
    cluster: subprocess.Popen | None = None
    peak_rss_kb: int = 0
    _read: int = field(default=0, repr=False)

    def command(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else list(argv)

    def received(self) -> list[tuple[str, str]]:
        """(recipient, Message-ID) of every message this host's sink accepted."""
        if not self.sink_file.exists():
            return []
        lines = self.sink_file.read_text().splitlines()
        return [tuple(line.split("\t", 1)) for line in lines if line]

    def count(self) -> int:
        if not self.sink_file.exists():
            return 0
        with self.sink_file.open("rb") as handle:
            return handle.read().count(b"\n")

    def sample_rss(self) -> int:
        """The memory of this host's cluster now (the PSS of every process of it); keeps the peak."""
        if self.cluster is None or self.cluster.poll() is not None:
            return 0
        total = sum(_pss_kb(pid) for pid in _session_members(self.cluster.pid))
        self.peak_rss_kb = max(self.peak_rss_kb, total)
        return total


class Hosts:
    """`count` worker hosts (see the module docstring) on the database of Django `database`
    settings, started by `with Hosts(...) as hosts:` and stopped, namespaces deleted, on exit."""

    def __init__(
        self,
        count: int,
        *,
        database: dict,
        workdir: Path,
        workers_per_host: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.count = count
        self.workdir = Path(workdir)
        self.workers_per_host = workers_per_host
        self.extra_env = env or {}
        self.why_not_netns = netns_unavailable()
        self.isolated = not self.why_not_netns
        socket_url, tcp_url = database_urls(database)
        self.database_url = socket_url if self.isolated else tcp_url
        self.redis_socket = self.workdir / "redis.sock"
        self.redis_url = f"unix://{self.redis_socket}"
        self.redis: subprocess.Popen | None = None
        self.hosts: list[Host] = []

    @property
    def mode(self) -> str:
        return "netns" if self.isolated else "process groups"

    def describe(self) -> str:
        if self.isolated:
            return f"each host a network namespace of its own ({', '.join(h.netns for h in self.hosts)})"
        why = self.why_not_netns
        return f"hosts as process groups on this machine's loopback (network namespaces unavailable: {why})"

    def __enter__(self) -> "Hosts":
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        if not self.isolated:
            print(self.describe(), file=sys.stderr)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        private = ("--port", "0", "--unixsocket", str(self.redis_socket), "--unixsocketperm", "700")
        self.redis = subprocess.Popen(
            ["redis-server", *private, "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=(self.workdir / "redis.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_for(self.redis_socket.exists, "redis-server's socket")
        for index in range(self.count):
            host = Host(
                index=index,
                netns=f"engage-{os.getpid()}-{index}" if self.isolated else "",
                sink_port=SINK_PORT if self.isolated else _free_port(),
                sink_file=self.workdir / f"host{index}.sink",
                log=self.workdir / f"host{index}.log",
            )
            self.hosts.append(host)
            if host.netns:
                subprocess.run(["ip", "netns", "add", host.netns], check=True)
                subprocess.run(["ip", "netns", "exec", host.netns, "ip", "link", "set", "lo", "up"], check=True)
            ready = host.sink_file.with_suffix(".ready")
            host.sink = subprocess.Popen(
                host.command(sys.executable, "-m", "tests.scaleout", "sink", str(host.sink_port), str(host.sink_file)),
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=host.log.with_suffix(".sink.log").open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _wait_for(ready.exists, f"host {index}'s SMTP sink")
            host.cluster = subprocess.Popen(
                host.command(sys.executable, str(ROOT / "manage.py"), "qcluster"),
                cwd=ROOT,
                env=self._cluster_env(host),
                stdout=host.log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        """Until every cluster has forked its processes: the qcluster command, its sentinel, the
        pusher, the monitor and the workers (Django is set up before they fork)."""
        expected = 4 + self.workers_per_host
        for host in self.hosts:

            def forked(host: Host = host) -> bool:
                self.check_alive()
                return len(_session_members(host.cluster.pid)) >= expected

            _wait_for(forked, f"host {host.index}'s cluster to start", timeout=120)

    def _cluster_env(self, host: Host) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_REPLICA_URL"}}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "engage.settings",
                "DATABASE_URL": self.database_url,
                "ENGAGE_REDIS_URL": self.redis_url,
                "SECRET_KEY": env.get("SECRET_KEY") or "engage-scale-out-only",
                "ENGAGE_QUEUE_SYNC": "0",
                "ENGAGE_WORKERS": str(self.workers_per_host),
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(host.sink_port),
                "EMAIL_USE_TLS": "0",
                "EMAIL_USE_SSL": "0",
                "ENGAGE_PUBLIC_URL": "",
                "LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT),
                **self.extra_env,
            }
        )
        return env

    def check_alive(self) -> None:
        """Raise if a host's cluster or sink ended, or Redis did."""
        if self.redis is not None and self.redis.poll() is not None:
            raise RuntimeError(f"redis-server ended ({self.redis.returncode})")
        for host in self.hosts:
            for name, process in (("cluster", host.cluster), ("sink", host.sink)):
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"host {host.index}'s {name} ended ({process.returncode}); see {host.log}")

    def sample_rss(self) -> list[int]:
        return [host.sample_rss() for host in self.hosts]

    def counts(self) -> list[int]:
        """Messages each host's sink has accepted so far."""
        return [host.count() for host in self.hosts]

    def received(self) -> list[list[tuple[str, str]]]:
        return [host.received() for host in self.hosts]

    def stop_clusters(self) -> None:
        _stop(*(host.cluster for host in self.hosts))

    def close(self) -> None:
        """Stop every process started here and delete the namespaces. Safe to call twice."""
        _stop(*(host.cluster for host in self.hosts))
        _stop(*(host.sink for host in self.hosts))
        _stop(self.redis)
        for host in self.hosts:
            if host.netns:
                subprocess.run(["ip", "netns", "delete", host.netns], check=False, capture_output=True)


class _Recorder:
    """aiosmtpd handler: one line per recipient, written before the message is acknowledged."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def handle_DATA(self, server, session, envelope) -> str:
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        message_id = found.group(1).decode() if found else "-"
        os.write(self.fd, "".join(f"{rcpt}\t{message_id}\n" for rcpt in envelope.rcpt_tos).encode())
        return "250 Message accepted for delivery"


def sink_main(port: int, path: str) -> None:
    """An SMTP sink on 127.0.0.1:port recording to `path`, until SIGTERM."""
    from aiosmtpd.smtp import SMTP

    async def serve() -> None:
        recorder = _Recorder(path)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(recorder), "127.0.0.1", port)
        stopped = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
        Path(path).with_suffix(".ready").touch()
        await stopped.wait()
        server.close()

    asyncio.run(serve())


if __name__ == "__main__":
    if sys.argv[1:2] == ["sink"]:
        sink_main(int(sys.argv[2]), sys.argv[3])
    else:
        raise SystemExit("usage: python -m tests.scaleout sink PORT FILE")
