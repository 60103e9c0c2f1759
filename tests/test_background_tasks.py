"""``background_task``: a job claimed once across processes, its progress and outcome readable
by any of them, a job whose process died shown as lost and startable again."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from newsletter.web import background_tasks as tasks

LEASE = timedelta(minutes=5)


def test_a_task_is_claimed_once_until_it_ends(engine: sa.Engine) -> None:
    assert tasks.begin(engine, "source_sync", "site", "Ed", lease=LEASE)
    assert not tasks.begin(engine, "source_sync", "site", "Bo", lease=LEASE)  # a 2nd click
    assert tasks.begin(engine, "source_sync", "feed", "Bo", lease=LEASE)  # another name
    task = tasks.get(engine, "source_sync", "site")
    assert task is not None and task.running and task.started_by == "Ed"
    tasks.finish(engine, "source_sync", "site", result={"created": 2, "problems": ["x"]})
    done = tasks.get(engine, "source_sync", "site")
    assert done is not None and not done.running and done.state == tasks.DONE
    assert done.result == {"created": 2, "problems": ["x"]} and done.finished_at is not None
    assert tasks.begin(engine, "source_sync", "site", "Bo", lease=LEASE)  # again, once ended
    again = tasks.get(engine, "source_sync", "site")
    assert again is not None and again.running and again.result == {} and not again.error
    assert set(tasks.of_kind(engine, "source_sync")) == {"site", "feed"}
    assert tasks.of_kind(engine, "subscriber_import") == {}


def test_progress_and_failure_are_kept(engine: sa.Engine) -> None:
    assert tasks.begin(engine, "subscriber_import", "abc", "Ad", lease=LEASE, total=10)
    tasks.progress(engine, "subscriber_import", "abc", 4, lease=LEASE)
    task = tasks.get(engine, "subscriber_import", "abc")
    assert task is not None and (task.done, task.total) == (4, 10)
    tasks.finish(engine, "subscriber_import", "abc", error="the import failed: disk full")
    failed = tasks.get(engine, "subscriber_import", "abc")
    assert failed is not None and failed.state == tasks.FAILED and not failed.running
    assert failed.error == "the import failed: disk full"


def test_a_task_whose_process_died_is_lost_and_may_start_again(engine: sa.Engine) -> None:
    assert tasks.begin(engine, "source_sync", "site", "Ed", lease=timedelta(seconds=-1))
    task = tasks.get(engine, "source_sync", "site")
    assert task is not None and task.lost and not task.running
    assert tasks.begin(engine, "source_sync", "site", "Bo", lease=LEASE)
    task = tasks.get(engine, "source_sync", "site")
    assert task is not None and task.running and task.started_by == "Bo"
