"""Sync the configured sources into the store: each source read by its own module, then stored
in one transaction of its own, so a failing source leaves its stored posts as they were and
the other sources still sync.

The network is read before the transaction opens: a source that is down or slow holds no lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import (
    FeedSourceConfig,
    MarkdownSourceConfig,
    Settings,
    SourceConfig,
    WordPressSourceConfig,
)
from newsletter.content import feeds, markdown, wordpress
from newsletter.content.fetch import Fetcher, make_client
from newsletter.content.store import Fetched, SyncResult, upsert_posts
from newsletter.content.sync_lock import claim, lease, owner_label, release
from newsletter.db import session_scope
from newsletter.errors import ConfigError, ContentError, NewsletterError, SourceError
from newsletter.models import SourceState, utcnow


@dataclass(frozen=True)
class SyncRequest:
    """What `content sync` was asked: only posts published since a day; prune; ignore state."""

    since: datetime | None = None
    prune: bool = False
    full: bool = False


@dataclass(frozen=True)
class Outcome:
    """One source's sync: its result, or the one-line error that stopped it."""

    name: str
    result: SyncResult | None = None
    error: str = ""


def select_sources(settings: Settings, only: str | None) -> list[SourceConfig]:
    """The configured sources, or just the one named ``only``."""
    sources = settings.content_sources()
    if only is None:
        return sources
    chosen = [s for s in sources if s.name == only]
    if not chosen:
        names = ", ".join(s.name for s in sources)
        raise ConfigError(f"no source is named {only!r}; the sources are: {names}")
    return chosen


def sync_sources(
    settings: Settings,
    engine: sa.Engine,
    request: SyncRequest,
    *,
    only: str | None = None,
    who: str = "cli",
) -> list[Outcome]:
    """Sync each source in turn, each under its claim (``locked_sync``); a source's failure is
    recorded and the next one still runs."""
    if request.prune and request.since is not None:
        raise ConfigError("--prune needs every post of a source, so it cannot go with --since")
    return [
        locked_sync(settings, engine, source, request, who)
        for source in select_sources(settings, only)
    ]


def locked_sync(
    settings: Settings, engine: sa.Engine, source: SourceConfig, request: SyncRequest, who: str
) -> Outcome:
    """``sync_source`` under the source's claim, its error as the CLI words it (one line) and
    kept on ``source_state``; a source another process is syncing is an Outcome with that error
    (and its last error is left as it was)."""
    owner = owner_label(who)
    refused = claim(engine, source.name, owner, utcnow() + lease(settings))
    if refused:
        return Outcome(source.name, error=refused)
    error = ""
    try:
        result = sync_source(settings, engine, source, request)
    except SourceError as exc:
        error = str(exc)
    except ContentError as exc:
        error = f"source {source.name!r}: {exc}"
    except BaseException as exc:  # never leave the claim held by a live process
        release(engine, source.name, owner, f"source {source.name!r}: {type(exc).__name__}")
        raise
    release(engine, source.name, owner, error)
    return Outcome(source.name, error=error) if error else Outcome(source.name, result)


def sync_source(
    settings: Settings, engine: sa.Engine, source: SourceConfig, request: SyncRequest
) -> SyncResult:
    """Read one source and store what it gave, all or nothing."""
    with Session(engine) as session:
        state = session.get(SourceState, source.name) or SourceState(name=source.name)
    if state.config_hash != config_hash(source):
        request = replace(request, full=True)  # new url or filters: the state no longer fits
    fetched = _read_guarded(settings, source, state, request)
    if request.since is not None:
        fetched.posts = [p for p in fetched.posts if p.published_at >= request.since]
        fetched.complete = False
        fetched.newest_modified_at = None  # the cursor moves on full and incremental syncs only
    with session_scope(engine) as session:
        if fetched.not_modified:
            result = SyncResult(source.name, not_modified=True)
        else:
            prune = request.prune and fetched.complete
            result = upsert_posts(session, source.name, fetched.posts, prune=prune)
        result.warnings.extend(fetched.warnings)
        result.problems.extend(fetched.problems)
        _remember(session, source, fetched)
    return result


# What a parser may raise on an answer of a shape nobody planned for. The source modules check
# what they read; this is the net under them, so no answer can end a sync in a traceback.
PARSE_FAULTS = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError, RecursionError)


def _read_guarded(
    settings: Settings, source: SourceConfig, state: SourceState, request: SyncRequest
) -> Fetched:
    """``_read``, with any parse fault as one SourceError naming the source and where it read."""
    try:
        return _read(settings, source, state, request)
    except NewsletterError:
        raise
    except PARSE_FAULTS as exc:
        where = getattr(source, "url", None) or getattr(source, "path", None) or "its answer"
        reason = " ".join(str(exc).split())[:200] or "no detail"
        raise SourceError(
            source.name, f"{where}: cannot read the answer ({type(exc).__name__}: {reason})"
        ) from exc


def _read(
    settings: Settings, source: SourceConfig, state: SourceState, request: SyncRequest
) -> Fetched:
    if isinstance(source, MarkdownSourceConfig):
        folder = source.path or settings.content_dir
        posts, problems = markdown.read_folder(
            folder, zone=settings.zone, summary_length=settings.summary_length
        )  # a bad file is skipped (and not pruned), the good ones are stored
        return Fetched(posts=posts, complete=not problems, problems=problems)
    fresh = request.full or request.prune
    timeout = source.timeout or settings.http_timeout
    with make_client(timeout) as client:
        fetcher = Fetcher(
            source.name,
            client,
            settings.http_retries,
            settings.http_backoff,
            max_bytes=settings.source_max_bytes,
            time_limit=settings.source_time_limit,
        )
        if isinstance(source, WordPressSourceConfig):
            return wordpress.read_site(
                fetcher,
                source.url,
                categories=source.categories,
                tags=source.tags,
                modified_after=None if fresh or request.since else state.newest_modified_at,
                published_after=request.since,
                summary_length=settings.summary_length,
            )
        assert isinstance(source, FeedSourceConfig)
        return feeds.read_feed(
            fetcher,
            source.url,
            etag="" if fresh else state.etag,
            last_modified="" if fresh else state.last_modified,
            categories=source.categories,
            summary_length=settings.summary_length,
        )


def config_hash(source: SourceConfig) -> str:
    """A fingerprint of a source's settings, so a changed URL or filter means a full sync."""
    settings = source.model_dump_json(exclude={"timeout"})
    return hashlib.sha256(settings.encode()).hexdigest()


def _remember(session: Session, source: SourceConfig, fetched: Fetched) -> None:
    state = session.get(SourceState, source.name) or SourceState(name=source.name)
    if state.config_hash != config_hash(source):
        state.newest_modified_at = None
    state.config_hash = config_hash(source)
    state.etag, state.last_modified = fetched.etag, fetched.last_modified
    known, newest = state.newest_modified_at, fetched.newest_modified_at
    if newest is not None and (known is None or newest > known):
        state.newest_modified_at = newest
    state.last_synced_at = utcnow()
    session.add(state)
