"""engage.settings as a fresh process sees it: each case starts Python with a controlled environment."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, 'db': s.DATABASES['default']}, default=str))"
)


def start(env: dict[str, str], code: str = PRINT_SETTINGS) -> subprocess.CompletedProcess:
    """Run `code` under engage.settings with only `env` (plus PATH) in the environment."""
    clean = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "engage.settings", **env}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_without_debug_and_secret_key_it_refuses_to_start():
    result = start({})

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_debug_starts_without_a_secret_key():
    result = start({"DEBUG": "1"})

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is True
    assert "127.0.0.1" in json.loads(result.stdout)["hosts"]


def test_production_starts_with_a_secret_key_and_allows_no_host_by_default():
    result = start({"SECRET_KEY": "x" * 50})

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False
    assert json.loads(result.stdout)["hosts"] == []


def test_database_defaults_to_sqlite_under_the_var_dir(tmp_path):
    result = start({"DEBUG": "1", "ENGAGE_VAR_DIR": str(tmp_path)})

    db = json.loads(result.stdout)["db"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "engage.sqlite3")


def test_database_url_selects_postgresql():
    result = start({"DEBUG": "1", "DATABASE_URL": "postgres://engage@127.0.0.1:5432/engage"})

    db = json.loads(result.stdout)["db"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["HOST"]) == ("engage", "engage", "127.0.0.1")


def test_env_example_lists_every_variable_settings_reads():
    source = (ROOT / "engage" / "settings.py").read_text()
    read = set(re.findall(r'(?:environ\.get\(|environ\[|env_bool\(|env_list\()\s*"([A-Z][A-Z0-9_]*)"', source))
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))

    assert "SECRET_KEY" in read
    assert read - listed == set()
