"""The subscriber store on SQLite and PostgreSQL: statuses as events, consent, erase."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from newsletter.db import session_scope
from newsletter.errors import InvalidAddress, TokenError
from newsletter.models import Consent, StatusEvent, Subscriber, Suppression, utcnow
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo

FORM = ConsentInfo(source="https://mpat.example.org/join", ip="192.0.2.7", user_agent="UA/1")


def test_addresses_are_trimmed_and_the_domain_lower_cased():
    assert subscribers.normalise_email("  Ann.Lee@Example.ORG ") == "Ann.Lee@example.org"
    for bad in ("", "ann", "ann@", "ann@example", "a b@example.org"):
        with pytest.raises(InvalidAddress):
            subscribers.normalise_email(bad)


def test_new_address_is_pending_with_consent_and_an_event(engine):
    now = utcnow()
    with session_scope(engine) as session:
        due = subscribers.subscribe(session, "ann@example.org", " Ann\nLee ", FORM, now)
        assert due is not None
    with Session(engine) as session:
        ann = session.exec(select(Subscriber)).one()
        consent = session.exec(select(Consent)).one()
        event = session.exec(select(StatusEvent)).one()
    assert (ann.status, ann.name, ann.confirmation_sent_at) == ("pending", "Ann Lee", now)
    assert (consent.source, consent.ip, consent.user_agent) == (FORM.source, "192.0.2.7", "UA/1")
    assert (event.from_status, event.to_status, event.reason) == (None, "pending", "signup")


def test_pending_address_gets_at_most_one_confirmation_per_hour(engine):
    start = utcnow()
    with session_scope(engine) as session:
        assert subscribers.subscribe(session, "ann@example.org", "", FORM, start)
    with session_scope(engine) as session:
        later = start + timedelta(minutes=59)
        assert subscribers.subscribe(session, "ann@example.org", "", FORM, later) is None
    with session_scope(engine) as session:
        again = start + timedelta(minutes=61)
        assert subscribers.subscribe(session, "ann@example.org", "", FORM, again) is not None


def test_confirm_unsubscribe_resubscribe_keep_the_history(engine):
    now = utcnow()
    with session_scope(engine) as session:
        ann = subscribers.subscribe(session, "ann@example.org", "", FORM, now)
        assert ann is not None
        key = ann.key
    with session_scope(engine) as session:
        subscribers.confirm(session, key, now, now + timedelta(minutes=1))
    with session_scope(engine) as session:
        assert subscribers.subscribe(session, "ann@example.org", "", FORM, now) is None
        subscribers.unsubscribe(session, key, "one-click", now + timedelta(minutes=2))
        subscribers.unsubscribe(session, key, "one-click", now + timedelta(minutes=3))
    with session_scope(engine) as session:
        ann, outcome = subscribers.resubscribe(session, key, now + timedelta(minutes=4))
        assert outcome is subscribers.Resubscribed.confirmed
    with Session(engine) as session:
        ann = session.exec(select(Subscriber)).one()
        events = subscribers.history(session, ann)[1]
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "pending"),
        ("pending", "confirmed"),
        ("confirmed", "unsubscribed"),
        ("unsubscribed", "confirmed"),
    ]
    assert ann.status == "confirmed" and ann.unsubscribed_at is not None


def test_a_confirm_link_from_before_an_unsubscribe_does_not_resubscribe(engine):
    now = utcnow()
    with session_scope(engine) as session:
        ann = subscribers.subscribe(session, "ann@example.org", "", FORM, now)
        assert ann is not None
        key = ann.key
        subscribers.confirm(session, key, now, now)
        subscribers.unsubscribe(session, key, "one-click", now + timedelta(minutes=5))
    with session_scope(engine) as session, pytest.raises(TokenError):
        subscribers.confirm(session, key, now, now + timedelta(minutes=6))
    with Session(engine) as session:
        assert session.exec(select(Subscriber)).one().status == "unsubscribed"


def test_unknown_key_is_a_token_error_and_changes_nothing(engine):
    with session_scope(engine) as session, pytest.raises(TokenError):
        subscribers.unsubscribe(session, "0" * 32, "one-click", utcnow())


def test_erase_removes_personal_data_and_keeps_only_a_hash(engine):
    now = utcnow()
    with session_scope(engine) as session:
        subscribers.subscribe(session, "ann@example.org", "Ann", FORM, now)
    with session_scope(engine) as session:
        assert subscribers.erase(session, "ann@example.org") is True
    with Session(engine) as session:
        assert session.exec(select(Subscriber)).all() == []
        assert session.exec(select(Consent)).all() == []
        assert session.exec(select(StatusEvent)).all() == []
        suppression = session.exec(select(Suppression)).one()
    assert "ann" not in suppression.email_hash
    assert suppression.email_hash == subscribers.email_hash("ann@example.org")
    # a signup in the erased address's name (any letter case) sends nothing, writes nothing
    with session_scope(engine) as session:
        assert subscribers.subscribe(session, "Ann@Example.org", "Ann", FORM, now) is None
    with Session(engine) as session:
        assert session.exec(select(Subscriber)).all() == []
        assert session.exec(select(Consent)).all() == []
    # staff bring the person back with their new consent: the suppression is lifted
    with session_scope(engine) as session:
        again = subscribers.add(
            session, "ann@example.org", "", confirmed=False, consent=FORM, override_erasure=True
        )
        assert again.status == "pending"
    with Session(engine) as session:
        assert session.exec(select(Suppression)).all() == []


def test_counts_cover_every_status(engine):
    with session_scope(engine) as session:
        subscribers.add(session, "a@example.org", "", confirmed=True, consent=FORM)
        subscribers.add(session, "b@example.org", "", confirmed=False, consent=FORM)
        found = subscribers.counts(session)
    assert found == {
        "pending": 1,
        "confirmed": 1,
        "unsubscribed": 0,
        "bounced": 0,
        "complained": 0,
    }
