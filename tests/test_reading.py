"""content.reading: the plain-SQL reader gives what the ORM gives, on SQLite (the standard
library's sqlite3, as ``newsletter build`` reads it, and the engine's connection) and on
PostgreSQL; ``open_sqlite`` leaves every other case to the engine."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter import db
from newsletter.config import Settings
from newsletter.content.reading import PostReader, matching, open_sqlite, sqlite_file
from newsletter.errors import DatabaseError
from newsletter.migrations.head import HEAD
from newsletter.models import Post
from tests.conftest import run_cli


def _orm_posts(engine: sa.Engine) -> dict[str, dict[str, object]]:
    with Session(engine) as session:
        posts = session.exec(select(Post)).all()
        return {
            p.slug: {
                "id": p.id,
                "slug": p.slug,
                "title": p.title,
                "url": p.url,
                "published_at": p.published_at,
                "updated_at": p.updated_at,
                "categories": tuple(p.categories),
                "tags": tuple(p.tags),
                "author": p.author,
                "summary": p.summary,
                "html": p.html,
                "image_url": p.image_url,
                "image_alt": p.image_alt,
                "source": p.source,
            }
            for p in posts
        }


def _readers(engine: sa.Engine, settings: Settings) -> list[tuple[str, PostReader]]:
    """The engine's reader, and on SQLite the standard library's too."""
    readers = [
        ("engine", PostReader(engine.raw_connection(), sqlite=engine.dialect.name == "sqlite"))
    ]
    opened = open_sqlite(settings.database_url, HEAD)
    if engine.dialect.name == "sqlite":
        assert opened is not None
        readers.append(("sqlite3", opened))
    else:
        assert opened is None  # PostgreSQL: always the engine
    return readers


def test_the_reader_gives_what_the_orm_gives(synced: sa.Engine, settings: Settings) -> None:
    expected = _orm_posts(synced)
    assert len(expected) >= 6
    for name, reader in _readers(synced, settings):
        posts = reader.published()
        assert {p.slug: dataclasses.asdict(p) for p in posts} == expected, name
        assert all(p.published_at.tzinfo is UTC for p in posts)
        assert [p.published_at for p in posts] == sorted(
            (p.published_at for p in posts), reverse=True
        )
        names = {slug: (tuple(cats), tuple(tags)) for slug, cats, tags in reader.names()}
        assert names == {s: (e["categories"], e["tags"]) for s, e in expected.items()}
        some = sorted(expected)[:2]
        assert set(reader.by_slug([*some, "no-such-post"])) == set(some), name
        assert reader.by_slug([]) == {}


def test_a_period_includes_its_start_and_excludes_its_end(
    synced: sa.Engine, settings: Settings
) -> None:
    moment = next(iter(_orm_posts(synced).values()))["published_at"]
    assert isinstance(moment, datetime)
    slug = next(s for s, p in _orm_posts(synced).items() if p["published_at"] == moment)
    later = moment + timedelta(microseconds=1)
    in_bangkok = moment.astimezone(ZoneInfo("Asia/Bangkok"))  # the same moment
    for name, reader in _readers(synced, settings):
        assert slug in {p.slug for p in reader.published(since=moment, until=later)}, name
        assert slug in {p.slug for p in reader.published(since=in_bangkok, until=later)}, name
        assert slug not in {p.slug for p in reader.published(since=later)}, name
        assert slug not in {p.slug for p in reader.published(until=moment)}, name
        with pytest.raises(ValueError, match="naive"):
            reader.published(since=moment.replace(tzinfo=None))


def test_matching_keeps_any_category_or_tag(synced: sa.Engine, settings: Settings) -> None:
    _, reader = _readers(synced, settings)[-1]
    posts = reader.published()
    assert matching(posts) == posts
    research = matching(posts, categories=["research"])
    assert research and all("research" in p.categories for p in research)
    assert matching(posts, categories=["no-such"], tags=["no-such"]) == []


def test_open_sqlite_leaves_other_cases_to_the_engine(tmp_path: Path) -> None:
    assert sqlite_file("sqlite:///subscribers.db") == Path("subscribers.db")
    assert sqlite_file("sqlite:////srv/news/subscribers.db") == Path("/srv/news/subscribers.db")
    for url in (
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///x.db?timeout=5",
        "postgresql+psycopg://postgres@127.0.0.1/test",
    ):
        assert sqlite_file(url) is None, url
        assert open_sqlite(url, HEAD) is None
    missing = tmp_path / "missing.db"
    assert open_sqlite(f"sqlite:///{missing}", HEAD) is None
    assert not missing.exists()  # not created by looking
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    assert open_sqlite(f"sqlite:///{junk}", HEAD) is None
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        connection.execute("INSERT INTO alembic_version VALUES ('0001')")
    connection.close()
    assert open_sqlite(f"sqlite:///{old}", HEAD) is None  # the engine migrates it first


def test_a_failing_read_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "current.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    reader = open_sqlite(f"sqlite:///{path}", HEAD)
    assert reader is not None
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE post")
    connection.close()
    with pytest.raises(DatabaseError, match=r"cannot read posts from .*current\.db: no such table"):
        reader.published()
    reader.close()


def test_build_on_a_database_behind_migrates_it_first(project: Path) -> None:
    """A build on a new database takes the engine's path: created and migrated, then the
    build says the store is empty (``open_sqlite`` declined: no file yet)."""
    code, _, err = run_cli("build", "2016-q3")
    assert code == 1
    assert "no posts yet" in err
    code, _, _ = run_cli("content", "sync")
    assert code == 0
    code, out, err = run_cli("build", "2016-q3")
    assert code == 0, err
    assert "built 2016-q3" in out
