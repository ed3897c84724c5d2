"""What the PostgreSQL benchmarks share: a throw-away database per measurement, the measurement run
in a fresh Django process on it (`<script> --child <size>`, its last stdout line a JSON result), and
the preamble every report starts with. Not a benchmark itself (`make bench` skips `bench/_*.py`).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(sql)


def run_child(script: str, prefix: str, size: int, env: dict[str, str]) -> dict:
    """Run `script --child size` with DATABASE_URL set to a new database `engage_bench_<prefix>_…`
    (dropped afterwards, whatever happens) and `env` on top of the usual; return its JSON result.
    With BENCH_PROFILE set, the child's stderr (a profile) is passed through."""
    name = f"engage_bench_{prefix}_{os.getpid()}_{size}"
    admin(f"CREATE DATABASE {name}")
    child_env = {
        **os.environ,
        "DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/" + name,
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    child_env.setdefault("SECRET_KEY", "bench-only")
    try:
        result = subprocess.run(
            [sys.executable, script, "--child", str(size)], env=child_env, capture_output=True, text=True, check=False
        )
    finally:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if result.returncode != 0:
        raise SystemExit(result.stderr[-4000:])
    if os.environ.get("BENCH_PROFILE"):
        sys.stderr.write(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def preamble() -> None:
    """The server's version, Python's, the CPUs and the load average before measuring."""
    import psycopg

    with psycopg.connect(PG_URL) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    print(f"PostgreSQL {version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
