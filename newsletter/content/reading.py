"""Reading the content store with plain SQL: what an issue's selection asks of it.

An issue's build (``newsletter build``, ``check``, ``preview``, the dashboard's preview, editor
and post picker) only reads posts: every slug, category and tag (to check the names an issue
file gives), the posts pinned by slug, and the posts published in the issue's period.
``PostReader`` asks exactly that on a DB-API connection and gives ``StoredPost``s, so a build
never needs SQLAlchemy's ORM or the models; what writes posts is ``content.store``.

``open_sqlite`` is how the command line reads the embedded default: the standard library's
``sqlite3`` on the database file, with no SQLAlchemy at all (half of a cold ``newsletter build``
was importing it). It declines (returns None) whenever the plain path could differ from the
engine's: a URL with options, an in-memory database, a file that does not exist yet or whose
schema is not the newest (the engine then creates or migrates it). PostgreSQL, and everything
the web app does, reads through the engine's own connection (``PostReader.of_engine``): the
same SQL, the driver's placeholders.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from newsletter.content.posts import StoredPost
from newsletter.errors import DatabaseError

if TYPE_CHECKING:
    import sqlalchemy as sa

COLUMNS = (
    "id, slug, title, url, published_at, updated_at, categories, tags, author, summary, html, "
    "image_url, image_alt, source"
)
# SQLAlchemy's SQLite DATETIME: naive UTC (models.columns.UTCDateTime) as this text, which
# sorts and compares as the time it is
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///([^?#]+)")
BUSY_TIMEOUT = 30.0  # seconds, as the engine's busy_timeout (db._sqlite_pragmas)


class PostReader:
    """The store's posts, read on one DB-API connection (``sqlite`` says whose placeholders:
    ``?`` for sqlite3, ``%s`` for psycopg)."""

    def __init__(self, connection: Any, *, sqlite: bool, where: str = "") -> None:
        self._connection = connection
        self._sqlite = sqlite
        self._mark = "?" if sqlite else "%s"
        self._where = where  # the database, for an error message (no password in it)

    @classmethod
    @contextmanager
    def of_engine(cls, engine: sa.Engine) -> Iterator[PostReader]:
        """On a connection of the engine's pool, given back when the block ends."""
        raw = engine.raw_connection()
        try:
            yield cls(raw, sqlite=engine.dialect.name == "sqlite")
        finally:
            raw.close()

    def close(self) -> None:
        """Close the connection (a reader ``open_sqlite`` made; ``of_engine`` closes its own)."""
        self._connection.close()

    def names(self) -> list[tuple[str, list[str], list[str]]]:
        """Every post's (slug, categories, tags)."""
        rows = self._rows("SELECT slug, categories, tags FROM post", ())
        return [(slug, _names(categories), _names(tags)) for slug, categories, tags in rows]

    def by_slug(self, slugs: Iterable[str]) -> dict[str, StoredPost]:
        wanted = sorted(set(slugs))
        if not wanted:
            return {}
        marks = ", ".join([self._mark] * len(wanted))
        rows = self._rows(f"SELECT {COLUMNS} FROM post WHERE slug IN ({marks})", wanted)  # noqa: S608
        return {post.slug: post for post in map(self._post, rows)}

    def published(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[StoredPost]:
        """Posts published in [since, until), newest first (then by slug)."""
        where, params = [], []
        if since is not None:
            where.append(f"published_at >= {self._mark}")
            params.append(self._time(since))
        if until is not None:
            where.append(f"published_at < {self._mark}")
            params.append(self._time(until))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        statement = f"SELECT {COLUMNS} FROM post{clause} ORDER BY published_at DESC, slug"  # noqa: S608
        return [self._post(row) for row in self._rows(statement, params)]

    def _rows(self, statement: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(statement, tuple(params))
            return [tuple(row) for row in cursor.fetchall()]
        except sqlite3.Error as exc:  # the plain path's own failures; the engine's are its own
            where = self._where or "the database"
            raise DatabaseError(f"cannot read posts from {where}: {exc}") from exc
        finally:
            cursor.close()

    def _time(self, moment: datetime) -> Any:
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: give it a time zone")
        utc = moment.astimezone(UTC)
        return utc.strftime(_SQLITE_TIME) if self._sqlite else utc

    def _post(self, row: tuple[Any, ...]) -> StoredPost:
        (id_, slug, title, url, published, updated, categories, tags, *rest) = row
        author, summary, html, image_url, image_alt, source = rest
        return StoredPost(
            id=id_,
            slug=slug,
            title=title,
            url=url,
            published_at=_utc(published),
            updated_at=_utc(updated),
            categories=tuple(_names(categories)),
            tags=tuple(_names(tags)),
            author=author,
            summary=summary,
            html=html,
            image_url=image_url,
            image_alt=image_alt,
            source=source,
        )


def matching(
    posts: list[StoredPost], *, categories: Sequence[str] = (), tags: Sequence[str] = ()
) -> list[StoredPost]:
    """The posts in any of the categories or tags given (all of them when none is given)."""
    if not categories and not tags:
        return posts
    wanted_categories, wanted_tags = set(categories), set(tags)
    return [p for p in posts if wanted_categories & set(p.categories) or wanted_tags & set(p.tags)]


@contextmanager
def posts_of(store: sa.Engine | PostReader) -> Iterator[PostReader]:
    """``store`` itself if it is a reader, else a reader on a connection of that engine."""
    if isinstance(store, PostReader):
        yield store
    else:
        with PostReader.of_engine(store) as reader:
            yield reader


def _names(value: Any) -> list[str]:
    """A JSON list column: text on SQLite, already a list from psycopg."""
    names = json.loads(value) if isinstance(value, str | bytes) else value
    return [str(name) for name in names or []]


def _utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL (relative to the working directory, as
    SQLAlchemy reads it); None for anything else (options, memory, another database)."""
    found = _SQLITE_FILE.fullmatch(url.strip())
    if found is None or found.group(1) == ":memory:":
        return None
    return Path(found.group(1))


def open_sqlite(url: str, head: str) -> PostReader | None:
    """A reader on the SQLite file ``url`` names, with the standard library only (its caller
    closes it); None when the engine should open the database instead (not a plain SQLite file
    URL, no such file yet, or a schema other than ``head``)."""
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None
    try:
        connection = sqlite3.connect(
            f"file:{quote(str(path.resolve()))}", uri=True, timeout=BUSY_TIMEOUT
        )
    except sqlite3.Error:
        return None
    try:
        revisions = [
            row[0] for row in connection.execute("SELECT version_num FROM alembic_version")
        ]
    except sqlite3.Error:  # not our database, or not migrated yet: the engine says what is wrong
        revisions = []
    if revisions != [head]:
        connection.close()
        return None
    return PostReader(connection, sqlite=True, where=str(path))
