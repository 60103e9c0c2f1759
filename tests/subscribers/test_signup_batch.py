"""Signups written together (group commit): a batch answers and writes exactly what the same
signups one by one would, a failed batch fails only the signup that fails alone, and concurrent
signups over real HTTP are all stored, each confirmation job once. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx2 as httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db import session_scope
from newsletter.email_jobs import queue
from newsletter.models import (
    Consent,
    EmailJobKind,
    StatusEvent,
    Subscriber,
    Suppression,
    email_job_table,
    subscriber_table,
    utcnow,
)
from newsletter.subscribers import store
from newsletter.subscribers.signup_batch import Wanted, signup_many
from tests.fake_sendgrid import FakeSendGrid
from tests.test_signup_outage import API_KEY, _free_port, _serve

FORM = store.ConsentInfo(source="https://mpat.example.org/join", ip="192.0.2.7", user_agent="UA")


def _pending(engine: sa.Engine, email: str, sent: datetime) -> None:
    with session_scope(engine) as session:
        assert store.subscribe(session, email, "", FORM, sent) is not None


def _state(engine: sa.Engine) -> tuple[dict[str, str], Counter[str], Counter[str], int]:
    """(status per address, consents per address, confirmation jobs per address, events)."""
    with Session(engine) as session:
        people = {p.id: p for p in session.exec(select(Subscriber)).all()}
        consents = Counter(people[c.subscriber_id].email for c in session.exec(select(Consent)))
        events = len(session.exec(select(StatusEvent)).all())
    with engine.connect() as connection:
        jobs = Counter(
            people[i].email
            for i in connection.execute(sa.select(email_job_table.c.subscriber_id)).scalars()
        )
    return {p.email: p.status for p in people.values()}, consents, jobs, events


def _setting_up(engine: sa.Engine) -> None:
    """Someone pending for two hours (due another email), someone pending since a minute ago
    (not due), someone confirmed, someone erased."""
    now = utcnow()
    _pending(engine, "old@example.org", now - timedelta(hours=2))
    _pending(engine, "recent@example.org", now - timedelta(minutes=1))
    _pending(engine, "done@example.org", now - timedelta(hours=3))
    with session_scope(engine) as session:
        done = store.find(session, "done@example.org")
        assert done is not None
        store.confirm(session, done.key, now, now)
        store.erase(session, "gone@example.org")


MIXED = [
    Wanted("new@example.org", "New Person", FORM),
    Wanted("old@example.org", "Old", FORM),
    Wanted("recent@example.org", "", FORM),
    Wanted("done@example.org", "", FORM),
    Wanted("gone@example.org", "", FORM),
    Wanted("NEW@example.org", "", FORM),  # the same person again, in another letter case
    Wanted("other@example.org", "", FORM),
    Wanted("Gone@example.org", "", FORM),
]
EXPECTED = [True, True, False, False, False, False, True, False]


def test_a_mixed_batch_gives_exactly_the_per_row_results(engine):
    _setting_up(engine)
    before = _state(engine)
    outcomes = signup_many(engine, MIXED, queue.ask, queue.ask_new)
    assert outcomes == EXPECTED
    statuses, consents, jobs, events = _state(engine)
    assert statuses == {
        "new@example.org": "pending", "old@example.org": "pending",
        "recent@example.org": "pending", "done@example.org": "confirmed",
        "other@example.org": "pending",
    }  # fmt: skip
    # a consent for each signup that was due an email, a job for each, an event per new address
    assert consents - before[1] == Counter(["new@example.org", "old@example.org",
                                            "other@example.org"])  # fmt: skip
    assert jobs - before[2] == Counter(["new@example.org", "old@example.org",
                                        "other@example.org"])  # fmt: skip
    assert events - before[3] == 2
    with Session(engine) as session:  # the erased address: still nothing but its hash
        assert session.exec(select(Suppression)).one()
        new = store.find(session, "new@example.org")
        assert new is not None and new.name == "New Person"
        event = session.exec(select(StatusEvent).where(StatusEvent.subscriber_id == new.id)).one()
        assert (event.from_status, event.to_status, event.reason) == (None, "pending", "signup")


def test_the_same_signups_one_by_one_give_the_same_results(engine):
    _setting_up(engine)
    outcomes = [store.signup(engine, w.email, w.name, w.consent, queue.ask) for w in MIXED]
    assert outcomes == EXPECTED


def test_a_batch_that_fails_is_written_one_by_one_and_fails_only_the_bad_signup(engine):
    """The batch's job writer fails (as an IntegrityError from a racing process would fail the
    transaction); the one-by-one writer fails for one subscriber only."""

    def broken_ask_new(
        connection: sa.Connection,
        subscriber_ids: Sequence[int],
        kind: EmailJobKind,
        not_before: datetime,
    ) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("the batch failed"))

    def ask(session: Session, subscriber_id: int, kind: EmailJobKind, not_before: datetime) -> bool:
        person = session.get(Subscriber, subscriber_id)
        if person is not None and person.email == "bad@example.org":
            raise RuntimeError("this one fails")
        return queue.ask(session, subscriber_id, kind, not_before)

    wanted = [Wanted(f"{n}@example.org", "", FORM) for n in ("a", "bad", "b")]
    outcomes = signup_many(engine, wanted, ask, broken_ask_new)
    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], RuntimeError)
    statuses, consents, jobs, _ = _state(engine)
    assert set(statuses) == {"a@example.org", "b@example.org"}  # bad's transaction rolled back
    assert jobs == Counter(["a@example.org", "b@example.org"])
    assert consents == Counter(["a@example.org", "b@example.org"])


def test_concurrent_signups_over_http_are_all_stored_once(project, engine, database_url):
    """Many clients at once against a real ``newsletter serve``: every address once, repeats
    (in another letter case too) answered alike and written once, one confirmation each."""
    people = [f"reader{n}@example.net" for n in range(60)]
    posts = people + [p.upper().replace("EXAMPLE.NET", "example.net") for p in people[:20]]
    sendgrid_port = _free_port()
    with FakeSendGrid(API_KEY, port=sendgrid_port) as fake:
        with _serve(database_url, sendgrid_port) as base:

            def post(address: str) -> int:
                with httpx.Client(base_url=base) as http:
                    answer = http.post("/subscribe", data={"email": address, "name": "R"})
                    return answer.status_code

            with ThreadPoolExecutor(12) as pool:
                answers = list(pool.map(post, posts))
            assert answers == [303] * len(posts)
            with engine.connect() as connection:
                stored = connection.execute(sa.select(subscriber_table.c.email)).scalars().all()
            assert sorted(e.lower() for e in stored) == sorted(people)
            deadline = time.monotonic() + 120
            while queue.counts(engine)["sent"] < len(people):
                assert time.monotonic() < deadline, queue.counts(engine)
                time.sleep(0.1)
            fake.wait_idle()
        assert Counter(r.lower() for r in fake.recipients()) == Counter(people)  # each once
    assert queue.counts(engine)["sent"] == len(people)
