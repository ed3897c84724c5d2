"""Seed a local Engage with an admin login and a demo project; idempotent (`make run` runs it every start).

Each seed step takes the run's DemoSeed and must be idempotent: it creates what is absent and
leaves what exists alone, so a user's changes survive the next start. Apps add their demo data
(endpoints, segments, campaigns, journeys) by appending a step to SEED_STEPS.
"""

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, OutputWrapper
from django.db import transaction

from audience.demo import seed_audience
from campaigns.demo import seed_campaigns
from projects.models import Project
from projects.services import SettingsChange, application_settings_update, project_create

ADMIN_USERNAME = "admin"
DEMO_PROJECT_NAME = "Demo"


@dataclass
class DemoSeed:
    """What the steps share: where to report, the login URL, and what earlier steps made."""

    out: OutputWrapper
    url: str
    admin: AbstractBaseUser | None = None
    project: Project | None = None
    login_hint: str = ""


def password_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-password.txt"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    path.chmod(0o600)  # the file may have existed with wider permissions


def seed_admin(seed: DemoSeed) -> None:
    """A superuser named admin, unless one exists; its password is never reset here."""
    User = get_user_model()
    existing = User.objects.filter(username=ADMIN_USERNAME).first()
    if existing is not None:
        seed.admin = existing
        where = password_file()
        if where.exists():
            hint = f"with the password stored in {where}"
        else:
            hint = "with its password (reset it with `python manage.py changepassword admin`)"
        seed.login_hint = f"Log in at {seed.url} as {ADMIN_USERNAME} {hint}."
        return

    password = os.environ.get("ENGAGE_ADMIN_PASSWORD", "")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    seed.admin = User.objects.create_superuser(ADMIN_USERNAME, email="admin@localhost", password=password)
    if generated:
        _write_private(password_file(), password)
        seed.out.write(f"Created the {ADMIN_USERNAME} user; its password is also stored in {password_file()}.")
        seed.login_hint = f"Log in at {seed.url} as {ADMIN_USERNAME} with password {password}"
    else:
        seed.login_hint = f"Log in at {seed.url} as {ADMIN_USERNAME} with the password from ENGAGE_ADMIN_PASSWORD."


def seed_project(seed: DemoSeed) -> None:
    """A project named Demo owned by admin, with demo settings, unless admin already has one."""
    assert seed.admin is not None, "seed_admin runs first"
    seed.project = Project.objects.filter(name=DEMO_PROJECT_NAME, memberships__user=seed.admin).first()
    if seed.project is not None:
        return

    seed.project = project_create(name=DEMO_PROJECT_NAME, owner=seed.admin, tags={"env": "demo"})
    application_settings_update(
        seed.project,
        SettingsChange(quiet_time={"Start": "22:00", "End": "07:00"}, limits={"Daily": 5, "MessagesPerSecond": 50}),
    )
    seed.out.write(f"Created the {DEMO_PROJECT_NAME} project (Id {seed.project.id}).")


def seed_demo_audience(seed: DemoSeed) -> None:
    """Endpoints, users, events and two segments in the Demo project, unless it has endpoints."""
    assert seed.project is not None, "seed_project runs first"
    created = seed_audience(seed.project)
    if created:
        seed.out.write(f"Added {created} demo endpoints, their events and two segments to {seed.project.name}.")


def seed_demo_campaigns(seed: DemoSeed) -> None:
    """An email template and two campaigns (one weekly A/B, one paused) in the Demo project, unless it has campaigns."""
    assert seed.project is not None, "seed_project runs first"
    created = seed_campaigns(seed.project, seed.admin)
    if created:
        seed.out.write(f"Added {created} demo campaigns to {seed.project.name}.")


SEED_STEPS: tuple[Callable[[DemoSeed], None], ...] = (seed_admin, seed_project, seed_demo_audience, seed_demo_campaigns)


class Command(BaseCommand):
    help = "Create the admin login and the Demo project if absent (idempotent; never resets a password)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--port",
            default=os.environ.get("PORT", "8000"),
            help="port shown in the login URL (default: $PORT or 8000)",
        )

    def handle(self, *args, port: str, **options) -> None:
        seed = DemoSeed(out=self.stdout, url=f"http://127.0.0.1:{port}/")
        for step in SEED_STEPS:
            with transaction.atomic():
                step(seed)
        # Last, so the line to act on is not buried under what the steps report.
        self.stdout.write(seed.login_hint)
