import pytest
from django.db import transaction
from django_q.models import Schedule

from engage.queue import enqueue_on_commit, task_path
from engage.schedules import Recurring, sync_schedules

RAN: list[tuple] = []


def record(*ids) -> None:
    RAN.append(ids)


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()


@pytest.mark.django_db(transaction=True)
def test_enqueued_work_runs_after_commit_with_the_ids():
    with transaction.atomic():
        enqueue_on_commit(record, "a1", 7)
        assert RAN == []

    assert RAN == [("a1", 7)]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_work_is_never_enqueued():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(record, "a1")
        raise RuntimeError("rollback")

    assert RAN == []


def test_task_path_names_the_function():
    assert task_path(record) == "tests.engage.test_queue.record"


@pytest.mark.django_db
def test_sync_schedules_is_idempotent_and_removes_undeclared_engage_schedules():
    Schedule.objects.create(name="engage.retired", func="x.y", schedule_type=Schedule.MINUTES, minutes=5)
    Schedule.objects.create(name="someone-elses", func="x.y", schedule_type=Schedule.MINUTES, minutes=5)
    declared = (Recurring(name="engage.tick", func="engage.tasks.clear_expired_sessions", minutes=10),)

    sync_schedules(declared)
    sync_schedules(declared)

    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["engage.tick", "someone-elses"]
    assert Schedule.objects.get(name="engage.tick").minutes == 10
