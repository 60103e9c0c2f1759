"""Signups written together: several people's signups in one transaction (group commit).

``signup_many`` answers each signup exactly as ``store.signup`` would have answered it alone, in
the order given, but writes the common case (a new address, not erased) for all of them with a
handful of set-based statements: one SELECT of the addresses already on the list, one of the erased
ones, one multi-row INSERT of the subscribers (RETURNING their ids), and one executemany INSERT
each for their status events, their consents and their confirmation emails' jobs; then one commit.
Those statements are plain SQL (``models/plain_sql.py``: SQLAlchemy's work per row was about a
third of a signup's cost in the database). The rare cases take ``store.subscribe``'s own path, one
by one, in the same transaction, after the new ones: an address already on the list (the resend
rule: at most one confirmation per ``RESEND_AFTER``, nothing for a confirmed one) and an address
that comes twice in the batch (its second signup finds the first). An erased (suppressed) address
gets nothing written. So no rule depends on how signups were grouped.

A batch whose transaction fails (say another process inserted one of the addresses meanwhile:
an IntegrityError) is written again one signup per transaction (``store.signup``, which retries
that race once), so one bad signup cannot fail the others: each gets its own outcome, a result
or the exception that signup alone would have raised. When the database itself is unavailable
(``unavailable``: locked past ``busy_timeout``, read-only, unreachable) every signup of the
batch gets that error at once: one by one, each would wait as long again (64 × 30 s when
locked) to fail the same way.

The web app's ``web/signup_writer.py`` hands this the signups that wait while a batch is being
written (bench/signup.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.models import (
    EmailJobKind,
    consent_table,
    plain_sql,
    status_event_table,
    subscriber_table,
    utcnow,
)
from newsletter.subscribers import store
from newsletter.subscribers.address import key_of
from newsletter.subscribers.status import Cause, initial, stamps

log = logging.getLogger("newsletter.subscribers")
REASON = "signup"  # the status event's reason, as store.subscribe's move writes it
# the batch's keys already on the list, and its erased addresses: ``marks`` placeholders each
FOUND = (
    "SELECT email_key FROM subscriber WHERE email_key IN ({marks}) "
    "UNION ALL SELECT email_hash FROM suppression WHERE email_hash IN ({marks})"
)


@dataclass(frozen=True)
class Wanted:
    """One signup: the address already normalised (``store.normalise_email``), the name as
    typed, and the consent."""

    email: str
    name: str
    consent: store.ConsentInfo


Outcome = bool | Exception  # whether a job was queued, or what that signup alone raised


class AskNew(Protocol):
    """Writes the confirmation emails' jobs of subscribers just inserted (none can be waiting
    yet), in the caller's transaction. The entry points pass ``email_jobs.queue.ask_new``."""

    def __call__(
        self,
        connection: sa.Connection,
        subscriber_ids: Sequence[int],
        kind: EmailJobKind,
        not_before: datetime,
    ) -> None: ...


def signup_many(
    engine: sa.Engine, wanted: Sequence[Wanted], ask: store.Ask, ask_new: AskNew
) -> list[Outcome]:
    """Each signup's outcome, in order, as ``store.signup`` would give it: True when its
    confirmation email's job was queued. Never raises for one signup: its exception is its
    outcome."""
    try:  # a batch of one too: fewer statements than the single-signup path
        return list(_together(engine, wanted, ask, ask_new))
    except Exception as exc:  # one signup's failure must not fail the others: each alone
        if unavailable(exc):  # each alone would wait as long (busy_timeout) and fail the same
            log.warning("a batch of %d signups failed: the database is unavailable", len(wanted))
            return [exc] * len(wanted)
        log.info("a batch of %d signups failed; writing them one by one", len(wanted))
    return [_alone(engine, one, ask) for one in wanted]


def unavailable(exc: Exception) -> bool:
    """Whether ``exc`` says the database cannot be used now, whatever is written: unreachable,
    locked past ``busy_timeout``, read-only, its disk failing (the driver's OperationalError),
    or the connection lost; not a conflict between transactions (SQLSTATE class 40: a deadlock, a
    serialization failure), which one signup per transaction may avoid."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    driver = type(exc.orig).__mro__  # the driver's own OperationalError (DB-API 2 names it so)
    if not any(cls.__name__ == "OperationalError" for cls in driver):
        return False
    return not str(getattr(exc.orig, "sqlstate", "") or "").startswith("40")


def _alone(engine: sa.Engine, one: Wanted, ask: store.Ask) -> Outcome:
    try:
        return store.signup(engine, one.email, one.name, one.consent, ask)
    except Exception as exc:  # handed to that signup's request, which raises it
        return exc


def _together(
    engine: sa.Engine, wanted: Sequence[Wanted], ask: store.Ask, ask_new: AskNew
) -> list[bool]:
    now = utcnow()
    keys = [key_of(one.email) for one in wanted]
    hashes = {key: _digest(key) for key in keys}
    queued = [False] * len(wanted)
    with engine.begin() as connection:
        marks = ", ".join([plain_sql.mark(connection.dialect)] * len(hashes))
        found = {
            found
            for (found,) in plain_sql.rows_of(
                connection, FOUND.format(marks=marks), [*hashes, *hashes.values()]
            )
        }  # the keys on the list and the hashes of the erased: an address is never 64 hex digits
        fresh: list[tuple[str, int]] = []  # a new address's key and its first signup's place
        one_by_one: list[int] = []  # on the list already, or a second signup of an address
        seen: set[str] = set()
        for n, key in enumerate(keys):
            if key in found or key in seen:
                one_by_one.append(n)
            elif hashes[key] in found:  # erased: nothing is written, a repeat finds it so too
                log.info("a signup for an erased (suppressed) address was refused")
            else:
                fresh.append((key, n))
            seen.add(key)
        # in the order of their keys: two batches on PostgreSQL that share addresses then wait
        # on each other rather than deadlock
        new = [n for _, n in sorted(fresh)]
        if new:
            ids = _insert(connection, [wanted[n] for n in new], [keys[n] for n in new], now)
            ask_new(connection, ids, EmailJobKind.confirmation, now)
            for n in new:
                queued[n] = True
        if one_by_one:  # store.subscribe's own path, in this transaction: the resend rule
            with Session(connection, expire_on_commit=False) as session:
                for n in one_by_one:
                    one = wanted[n]
                    due = store.subscribe(session, one.email, one.name, one.consent, now)
                    if due is not None and due.id is not None:
                        queued[n] = ask(session, due.id, EmailJobKind.confirmation, now)
                session.flush()
    return queued


def _digest(key: str) -> str:
    """A suppression entry's hash of an address's key (``store.email_hash``)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _insert(
    connection: sa.Connection, wanted: Sequence[Wanted], keys: Sequence[str], now: datetime
) -> list[int]:
    """New pending subscribers with their status events and consents; their ids, in order."""
    status = initial(Cause.signup)
    rows = [
        {
            "key": store.new_key(),
            "email": one.email,
            "email_key": key,
            "name": store.clean_name(one.name),
            "status": status.value,
            "created_at": now,
            "confirmation_sent_at": now,
            **stamps(status, now),
        }
        for one, key in zip(wanted, keys, strict=True)
    ]
    returned = plain_sql.insert_many(
        connection, subscriber_table, rows, returning=("email_key", "id")
    )
    inserted = {key: int(i) for key, i in returned}
    ids = [inserted[key] for key in keys]
    plain_sql.insert_many(
        connection,
        status_event_table,
        [
            {"subscriber_id": i, "at": now, "from_status": None, "to_status": status.value,
             "reason": REASON}
            for i in ids
        ],
    )  # fmt: skip
    plain_sql.insert_many(
        connection,
        consent_table,
        [store.consent_row(i, one.consent, now) for i, one in zip(ids, wanted, strict=True)],
    )
    return ids
