"""A read-only database: write commands end in one line and exit 1, reads still work.

Tests run as root, whom chmod does not stop, so the database is made read-only the way an
operator would for a replica or a reporting copy: SQLite opened with ``mode=ro``, PostgreSQL
with ``default_transaction_read_only=on``.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from newsletter import db
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo


def _read_only(url: str) -> str:
    if url.startswith("sqlite:///"):
        return f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return url + "%20-cdefault_transaction_read_only%3Don"


def _counts(engine: sa.Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {str(k): v for k, v in subscribers.counts(session).items()}


@pytest.fixture
def read_only(project, synced, database_url, monkeypatch, tmp_path):
    with Session(synced) as session:
        subscribers.add(
            session, "kept@example.net", "K", confirmed=True, consent=ConsentInfo(source="t")
        )
        session.commit()
    (tmp_path / "people.csv").write_text("email,name\nnew@example.net,New\n")
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", _read_only(database_url))
    return synced


@pytest.mark.parametrize(
    "command",
    [
        ["subscribers", "add", "--confirmed", "new@example.net"],
        ["subscribers", "erase", "kept@example.net"],
        ["subscribers", "import", "../people.csv"],
        ["content", "sync", "--full"],
        ["schedule", "2016-q3", "--at", "2030-01-01T09:00"],
    ],
)
def test_write_commands_say_the_database_is_read_only(read_only, command):
    from tests.conftest import run_cli

    before = _counts(read_only)
    code, out, err = run_cli(*command)
    assert code == 1, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the database "), err
    assert "is read-only: " in lines[0]
    assert _counts(read_only) == before
    code, out, err = run_cli("subscribers", "count")
    assert code == 0 and "total         1" in out, err


def test_read_only_url_is_masked(read_only, database_url, monkeypatch):
    from tests.conftest import run_cli

    if not database_url.startswith("postgresql"):
        pytest.skip("a password is a PostgreSQL matter")
    url = sa.make_url(_read_only(database_url)).set(password="Hidden-Pw-123")
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", url.render_as_string(hide_password=False))
    code, _, err = run_cli("subscribers", "add", "--confirmed", "new@example.net")
    assert code == 1 and "Hidden-Pw-123" not in err
    assert db.masked(url) in err or "cannot open database" in err
