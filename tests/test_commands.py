import json
import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from engage import crypto
from projects.models import AccessKey, ApplicationSettings, Project, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def var_dir(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("ENGAGE_ADMIN_PASSWORD", raising=False)
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_create_access_key_prints_one_json_object_with_a_working_key(user, capsys):
    out, _ = run("create_access_key", "alice")

    printed = json.loads(out)
    key = AccessKey.objects.get(access_key_id=printed["AccessKeyId"])
    assert set(printed) == {"AccessKeyId", "SecretAccessKey"}
    assert out.count("\n") == 1
    assert capsys.readouterr().out == ""
    assert key.user == user
    assert printed["SecretAccessKey"] not in key.secret_encrypted
    assert crypto.decrypt(key.secret_encrypted) == printed["SecretAccessKey"]


def test_create_access_key_reports_on_stderr_and_stores_the_description(user):
    out, err = run("create_access_key", "alice", "--description", "laptop")

    key_id = json.loads(out)["AccessKeyId"]
    assert key_id in err
    assert AccessKey.objects.get(access_key_id=key_id).description == "laptop"


def test_create_access_key_for_unknown_user_is_an_error():
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("create_access_key", "nobody")

    assert AccessKey.objects.count() == 0


def test_create_access_key_for_inactive_user_is_an_error():
    UserFactory(username="gone", is_active=False)

    with pytest.raises(CommandError, match="inactive"):
        run("create_access_key", "gone")


def test_seed_demo_creates_admin_and_demo_project(var_dir):
    out, _ = run("seed_demo", "--port", "8123")

    admin = get_user_model().objects.get(username="admin")
    project = Project.objects.get(name="Demo")
    password = (var_dir / "admin-password.txt").read_text().strip()
    assert admin.is_superuser
    assert admin.check_password(password)
    assert f"Log in at http://127.0.0.1:8123/ as admin with password {password}" in out
    assert stat.S_IMODE((var_dir / "admin-password.txt").stat().st_mode) == 0o600
    assert project.tags == {"env": "demo"}
    assert project.memberships.get().user == admin
    assert project.memberships.get().role == Role.OWNER
    assert (project.settings.quiet_time_start, project.settings.quiet_time_end) == ("22:00", "07:00")
    assert project.settings.limits_daily == 5


def test_seed_demo_twice_keeps_one_admin_one_project_and_the_password(var_dir):
    run("seed_demo")
    password_hash = get_user_model().objects.get(username="admin").password
    password = (var_dir / "admin-password.txt").read_text()

    out, _ = run("seed_demo")

    assert get_user_model().objects.filter(username="admin").count() == 1
    assert get_user_model().objects.get(username="admin").password == password_hash
    assert (var_dir / "admin-password.txt").read_text() == password
    assert Project.objects.filter(name="Demo").count() == 1
    assert str(var_dir / "admin-password.txt") in out
    assert password.strip() not in out


def test_seed_demo_adds_campaigns_that_send_nothing_now_and_only_once(var_dir):
    from campaigns.models import Campaign, CampaignState

    run("seed_demo")
    project = Project.objects.get(name="Demo")
    campaigns = {c.name: c for c in Campaign.objects.filter(project=project)}
    assert set(campaigns) == {"Weekly-digest", "Win-back"}
    weekly = campaigns["Weekly-digest"]
    assert weekly.state == CampaignState.SCHEDULED and weekly.next_run_at > timezone.now()
    assert [t["SizePercent"] for t in weekly.definition["AdditionalTreatments"]] == [45]
    assert campaigns["Win-back"].state == CampaignState.PAUSED

    run("seed_demo")

    assert Campaign.objects.filter(project=project).count() == 2


def test_seed_demo_keeps_settings_changed_after_the_first_run(var_dir):
    run("seed_demo")
    ApplicationSettings.objects.filter(project__name="Demo").update(limits_daily=9)

    run("seed_demo")

    assert Project.objects.get(name="Demo").settings.limits_daily == 9


def test_seed_demo_uses_engage_admin_password_and_writes_no_file(var_dir, monkeypatch):
    monkeypatch.setenv("ENGAGE_ADMIN_PASSWORD", "a-chosen-password")

    out, _ = run("seed_demo")

    assert get_user_model().objects.get(username="admin").check_password("a-chosen-password")
    assert not (var_dir / "admin-password.txt").exists()
    assert "a-chosen-password" not in out


def test_seed_demo_adds_a_demo_audience_once(var_dir):
    from audience.models import Endpoint, Event, Segment
    from audience.segments import segment_members

    run("seed_demo")
    first = Event.objects.count()
    run("seed_demo")

    project = Project.objects.get(name="Demo")
    assert Endpoint.objects.filter(project=project).count() == 300
    events = Event.objects.filter(project=project)
    assert events.filter(client_event_id__startswith="s-").count() == 100  # the audience's first sessions
    assert events.filter(client_event_id__startswith="month-").count() > 1000  # a month of activity (dashboard)
    assert Event.objects.count() == first  # the second run adds none
    assert Segment.objects.filter(project=project).count() == 2
    assert segment_members(project, Segment.objects.get(name="Pro and team plans")).exists()
