"""Staff accounts, passwords, one-time links and the activity log, on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import Session, col, select

from newsletter.errors import InvalidAddress, StaffError, UnknownStaff, WeakPassword
from newsletter.models import Role, Staff, StaffLink, utcnow
from newsletter.staff import accounts, activity, links, passwords, sessions

GOOD = "plum-orbit-lantern-47"
LIFE = sessions.Lifetimes.of(3600, 7200)


# ---- password rules ----


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("short1!", "too short"),
        ("x" * 1025, "too long"),
        ("            ", "only spaces"),
        ("passwordpassword", "common"),
        ("Password2024!!", "common"),  # a common word with digits and punctuation around it
        ("123456789012", "common"),
        ("qwertyuiopasdfgh", "common"),
        ("correct horse battery staple", "common"),
        ("abababababab", "repeats"),
        ("AnnLeeExample@example.org", "your email address or your name"),
        ("annleeexample", "your email address or your name"),  # ...@ part, punctuation aside
        ("Annabel Leeward", "your email address or your name"),
        ("annabelleeward1!", "your email address or your name"),
    ],
)
def test_weak_passwords_are_refused_with_one_clear_line(password, words):
    with pytest.raises(WeakPassword) as caught:
        passwords.check(password, email="annleeexample@example.org", name="Annabel Leeward")
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert password.strip() not in message or not password.strip()  # never echoed


def test_a_good_password_passes():
    assert passwords.problem(GOOD, email="ann@example.org", name="Ann Lee") is None


def test_the_common_list_is_a_few_hundred_lower_case_entries():
    common = passwords.well_known()
    assert 300 <= len(common) <= 2000
    assert "password" in common and "iloveyou" in common and "qwerty123456" in common


def test_hashes_are_argon2id_salted_and_verify():
    first, second = passwords.hash_password(GOOD), passwords.hash_password(GOOD)
    assert first.startswith("$argon2id$") and first != second and GOOD not in first
    assert passwords.verify(GOOD, first) == (True, None)
    assert passwords.verify(GOOD + "x", first) == (False, None)
    assert passwords.verify(GOOD, "") == (False, None)
    assert passwords.verify(GOOD, "not a hash") == (False, None)


def test_a_hash_with_old_parameters_is_upgraded():
    old = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192),)).hash(GOOD)
    matches, fresh = passwords.verify(GOOD, old)
    assert matches and fresh is not None and fresh != old
    assert passwords.verify(GOOD, fresh) == (True, None)


# ---- accounts ----


def _row(engine: sa.Engine, email: str) -> Staff:
    with Session(engine) as session:
        return session.exec(select(Staff).where(Staff.email_key == email.lower())).one()


def test_add_validates_and_keys_the_address(engine):
    staff = accounts.add(engine, "  Ann.Lee@Example.ORG ", role=Role.editor, name=" Ann  Lee ")
    assert (staff.email, staff.email_key, staff.name) == (
        "Ann.Lee@example.org",
        "ann.lee@example.org",
        "Ann Lee",
    )
    assert staff.password_hash == ""
    with pytest.raises(StaffError, match="already has a staff account"):
        accounts.add(engine, "ann.lee@EXAMPLE.org", role=Role.viewer)
    with pytest.raises(InvalidAddress):
        accounts.add(engine, "not an address", role=Role.viewer)
    assert accounts.find(engine, "ANN.LEE@example.org") is not None
    with pytest.raises(UnknownStaff, match="no staff member has the address"):
        accounts.get(engine, "bo@example.org")


def test_password_is_stored_as_an_argon2_hash_and_authenticates(engine):
    staff = accounts.add(engine, "ann@example.org", role=Role.admin)
    assert staff.id is not None
    accounts.set_password(engine, staff.id, GOOD)
    stored = _row(engine, "ann@example.org")
    assert stored.password_hash.startswith("$argon2id$") and GOOD not in stored.password_hash
    assert stored.password_changed_at is not None and stored.last_signin_at is None
    assert accounts.authenticate(engine, "ANN@example.org", GOOD) is not None
    assert _row(engine, "ann@example.org").last_signin_at is not None
    assert accounts.authenticate(engine, "ann@example.org", GOOD + "!") is None
    assert accounts.authenticate(engine, "nobody@example.org", GOOD) is None
    with pytest.raises(WeakPassword):
        accounts.set_password(engine, staff.id, "ann@example.org")


def test_authenticate_upgrades_an_old_hash(engine):
    staff = accounts.add(engine, "ann@example.org", role=Role.admin)
    old = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192),)).hash(GOOD)
    with engine.begin() as connection:
        connection.execute(
            sa.update(Staff).where(col(Staff.id) == staff.id).values(password_hash=old)
        )
    assert accounts.authenticate(engine, "ann@example.org", GOOD) is not None
    upgraded = _row(engine, "ann@example.org").password_hash
    assert upgraded != old and passwords.verify(GOOD, upgraded) == (True, None)


def test_disable_ends_sessions_and_links_and_refuses_sign_in(engine):
    staff = accounts.add(engine, "ann@example.org", role=Role.editor)
    assert staff.id is not None
    accounts.set_password(engine, staff.id, GOOD)
    token, _ = sessions.start(engine, staff.id, LIFE)
    link = links.create(engine, staff.id, links.RESET)
    accounts.disable(engine, "ann@example.org")
    assert sessions.find(engine, token, LIFE) is None
    assert sessions.live(engine, staff.id, LIFE) == []
    assert links.peek(engine, link) is None and links.claim(engine, link) is None
    assert accounts.authenticate(engine, "ann@example.org", GOOD) is None
    with pytest.raises(StaffError, match="disabled"):
        accounts.reset(engine, "ann@example.org")
    accounts.enable(engine, "ann@example.org")
    assert accounts.authenticate(engine, "ann@example.org", GOOD) is not None


def test_reset_clears_the_password_ends_sessions_and_makes_a_link(engine):
    staff = accounts.add(engine, "ann@example.org", role=Role.editor)
    assert staff.id is not None
    accounts.set_password(engine, staff.id, GOOD)
    token, _ = sessions.start(engine, staff.id, LIFE)
    _, link = accounts.reset(engine, "ann@example.org")
    assert _row(engine, "ann@example.org").password_hash == ""
    assert sessions.find(engine, token, LIFE) is None
    assert accounts.authenticate(engine, "ann@example.org", GOOD) is None
    assert links.peek(engine, link) is not None


def test_set_role(engine):
    accounts.add(engine, "ann@example.org", role=Role.viewer)
    staff, before = accounts.set_role(engine, "ann@example.org", Role.publisher)
    assert (before, staff.role) == (Role.viewer, Role.publisher)
    assert _row(engine, "ann@example.org").role == Role.publisher


# ---- links ----


def test_a_link_stores_only_its_hash_works_once_and_expires(engine):
    staff = accounts.add(engine, "ann@example.org", role=Role.editor)
    assert staff.id is not None
    start = utcnow()
    token = links.create(engine, staff.id, links.INVITE, now=start)
    with Session(engine) as session:
        row = session.exec(select(StaffLink)).one()
    assert token not in row.token_hash and row.token_hash == sessions.token_hash(token)
    assert row.expires_at == start + timedelta(hours=24)
    assert links.url("https://news.example.org", token) == (
        f"https://news.example.org/admin/link/{token}"
    )
    late = start + timedelta(hours=24)
    assert links.peek(engine, token, now=late) is None
    assert links.claim(engine, token, now=late) is None
    assert links.peek(engine, token, now=late - timedelta(seconds=1)) is not None
    assert links.claim(engine, token, now=start + timedelta(hours=1)) == staff.id
    assert links.claim(engine, token, now=start + timedelta(hours=1)) is None  # once
    assert links.peek(engine, token) is None
    assert links.claim(engine, "unknown") is None and links.claim(engine, "") is None


def test_a_new_link_voids_the_older_one(engine):
    staff = accounts.add(engine, "ann@example.org", role=Role.editor)
    assert staff.id is not None
    first = links.create(engine, staff.id, links.INVITE)
    second = links.create(engine, staff.id, links.RESET)
    assert links.claim(engine, first) is None
    assert links.claim(engine, second) == staff.id


# ---- activity ----


def test_activity_is_newest_first_filtered_and_paged_by_id(engine):
    for n in range(7):
        activity.record(
            engine,
            actor="ann@example.org" if n % 2 else "cli",
            action="save" if n < 5 else "signin",
            subject="2016-q3" if n < 3 else "",
            detail=f"n={n}",
            ip="192.0.2.1",
        )
    everything = activity.entries(engine)
    assert [e.detail for e in everything] == [f"n={n}" for n in range(6, -1, -1)]
    page = activity.entries(engine, limit=3)
    rest = activity.entries(engine, before_id=page[-1].id, limit=3)
    assert [e.detail for e in page + rest] == [f"n={n}" for n in range(6, 0, -1)]
    assert {e.detail for e in activity.entries(engine, actor="cli")} == {
        "n=0",
        "n=2",
        "n=4",
        "n=6",
    }
    assert [e.detail for e in activity.entries(engine, action="signin")] == ["n=6", "n=5"]
    assert [e.detail for e in activity.entries(engine, subject="2016-q3", actor="cli")] == [
        "n=2",
        "n=0",
    ]
    assert activity.choices(engine) == (["ann@example.org", "cli"], ["save", "signin"])


def test_activity_cuts_long_values_to_their_columns(engine):
    activity.record(engine, actor="a" * 1000, action="b" * 100, subject="c" * 1000)
    entry = activity.entries(engine)[0]
    assert (len(entry.actor), len(entry.action), len(entry.subject)) == (320, 40, 320)
