"""The table of status changes (subscribers/status.py): the docs show it as it is, ``move``
does what it says from every status, and a bounce or complaint is never undone without a new
confirmation. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db import session_scope
from newsletter.models import (
    Consent,
    StatusEvent,
    Subscriber,
    SubscriberStatus,
    subscriber_table,
    utcnow,
)
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.status import MOVES, Cause, move
from newsletter.subscribers.store import ConsentInfo
from tests.conftest import ROOT

Status = SubscriberStatus
FORM = ConsentInfo(source="https://mpat.example.org/join")


def _docs_table() -> dict[str, tuple[str, set[Status | None], Status | None]]:
    text = (ROOT / "docs" / "subscribers.md").read_text()
    section = text.split("\n### Status changes\n", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", section, flags=re.M)
    assert rows, "no table under 'Status changes' in docs/subscribers.md"
    table = {}
    for cause, who, start, to in rows:
        starts: set[Status | None] = {Status(s) for s in re.findall(r"`([a-z_]+)`", start)}
        if "(new address)" in start:
            starts.add(None)
        end = None if "(erased)" in to else Status(to.strip().strip("`"))
        table[cause] = (who.strip(), starts, end)
    return table


def test_the_docs_show_the_table_the_code_applies():
    code = {cause.value: (m.who, set(m.from_), m.to) for cause, m in MOVES.items()}
    assert _docs_table() == code
    assert set(MOVES) == set(Cause)


def test_only_resubscribe_needs_an_earlier_confirmation_and_the_docs_say_so():
    text = (ROOT / "docs" / "subscribers.md").read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("| `resubscribe` |")]
    assert "confirmed before" in row
    assert [c for c, m in MOVES.items() if m.confirmed_before] == [Cause.resubscribe]


def _person(
    session: Session, email: str, start: Status | None, confirmed_before: bool
) -> Subscriber:
    """A subscriber in status ``start`` (a new, unsaved one for None), made with plain SQL."""
    long_ago = utcnow() - timedelta(days=30)
    if start is None:
        return Subscriber(key=subscribers.new_key(), email=email, name="", created_at=long_ago)
    row = {
        "key": subscribers.new_key(), "email": email, "name": "", "status": start.value,
        "created_at": long_ago, "confirmed_at": long_ago if confirmed_before else None,
    }  # fmt: skip
    new_id = session.connection().execute(
        sa.insert(subscriber_table).values(row).returning(subscriber_table.c.id)
    )
    found = session.get(Subscriber, new_id.scalar_one())
    assert found is not None
    return found


def _after(engine: sa.Engine, email: str) -> tuple[Subscriber | None, list[StatusEvent]]:
    with Session(engine) as session:
        found = subscribers.find(session, email)
        return found, [] if found is None else subscribers.history(session, found)[1]


@pytest.mark.parametrize("cause", list(Cause))
def test_move_does_exactly_what_the_table_says_from_every_status(engine, cause):
    rule, now = MOVES[cause], utcnow()
    for start in (None, *Status):
        for confirmed_before in (False, True) if start is not None else (False,):
            email = f"{cause.value}.{start}.{confirmed_before}@example.org".replace("_", "-")
            with session_scope(engine) as session:
                person = _person(session, email, start, confirmed_before)
                before = (person.confirmed_at, person.unsubscribed_at)
                changed = move(session, person, cause, f"test {cause}", now)
            allowed = start in rule.from_ and (confirmed_before or not rule.confirmed_before)
            assert changed is allowed, (cause, start, confirmed_before)
            found, events = _after(engine, email)
            now_as = (found.status, found.confirmed_at, found.unsubscribed_at) if found else None
            if not allowed:  # nothing changed, nothing recorded
                assert now_as == (None if start is None else (start, *before)) and events == []
            elif rule.to is None:
                assert found is None
            else:
                confirmed_at = now if rule.to is Status.confirmed else before[0]
                unsubscribed_at = now if rule.to is Status.unsubscribed else before[1]
                assert now_as == (rule.to, confirmed_at, unsubscribed_at)
                changes = [(e.from_status, e.to_status, e.reason) for e in events]
                assert changes == [(start, rule.to, f"test {cause}")]


@pytest.mark.parametrize("cause", [Cause.complaint, Cause.bounce])
def test_unsubscribe_link_does_not_undo_a_complaint_or_bounce(engine, cause):
    """Once a hole: one-click made a complained or bounced address unsubscribed, and then
    "Subscribe again" made it confirmed, mailed again without a new opt-in."""
    start = utcnow()
    with session_scope(engine) as session:
        new = subscribers.subscribe(session, "ann@example.org", "", FORM, start)
        assert new is not None  # a new address: its confirmation email is due
        key = new.key
        subscribers.confirm(session, key, start, start)
    with session_scope(engine) as session:
        ann = subscribers.by_key(session, key)
        assert move(session, ann, cause, "sendgrid webhook: test", start + timedelta(minutes=1))
    was = MOVES[cause].to
    with session_scope(engine) as session:
        ann = subscribers.unsubscribe(session, key, "one-click", start + timedelta(minutes=2))
        assert ann.status == was and ann.unsubscribed_at is None
    with session_scope(engine) as session:
        ann, outcome = subscribers.resubscribe(session, key, start + timedelta(minutes=3))
        assert outcome is subscribers.Resubscribed.needs_confirmation and ann.status == was
    with session_scope(engine) as session:  # the way back: a new signup and its new link
        later = start + timedelta(hours=2)
        assert subscribers.subscribe(session, "ann@example.org", "", FORM, later) is not None
        assert subscribers.confirm(session, key, later, later).status == Status.confirmed
    with Session(engine) as session:
        ann = session.exec(select(Subscriber)).one()
        steps = [(e.from_status, e.to_status) for e in subscribers.history(session, ann)[1]]
    assert steps == [
        (None, "pending"),
        ("pending", "confirmed"),
        ("confirmed", was),
        (was, "confirmed"),
    ]


def test_erase_is_a_move_that_leaves_no_history(engine):
    with session_scope(engine) as session:
        subscribers.add(session, "bo@example.org", "Bo", confirmed=True, consent=FORM)
    with session_scope(engine) as session:
        assert subscribers.erase(session, "bo@example.org") is True
    with Session(engine) as session:
        for model in (Subscriber, Consent, StatusEvent):
            assert session.exec(select(model)).all() == []
