"""The activity log: every state-changing action, with who, what, on what and when.

Rows are only ever added. ``actor`` is a staff member's address, ``cli`` for the command line
or ``scheduler`` for the in-server scheduler; ``action`` a short word (``ACTIONS`` lists the
staff area's own; other parts add theirs: ``save``, ``approve``, ``schedule``...); ``subject``
what it was done to (an issue slug, a staff address). ``entries`` reads it newest first, a page
at a time by id (keyset: the next page starts below the last id seen).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.models import Activity, utcnow

CLI = "cli"
MAX_LIMIT = 200
# the actions of sign-in and staff accounts (what each means, in docs/staff.md)
ACTIONS = {
    "signin": "signed in",
    "signin_failed": "failed to sign in",
    "signout": "signed out",
    "signout_others": "signed out of their other sessions",
    "signout_everywhere": "signed out everywhere",
    "session_ended": "ended one of their sessions",
    "password_set": "set their password",
    "staff_add": "added a staff member",
    "staff_disable": "disabled a staff member",
    "staff_enable": "enabled a staff member",
    "staff_role": "changed a staff member's role",
    "staff_reset": "reset a staff member's password",
    # the subscriber pages (a person named by subscriber id, never by address: docs/dashboard.md)
    "subscriber_add": "added a subscriber",
    "subscriber_unsubscribe": "unsubscribed a subscriber",
    "subscriber_resubscribe": "resubscribed a subscriber with consent",
    "subscriber_confirmation": "sent a confirmation email again",
    "subscriber_erase": "erased a subscriber",
    "subscribers_import_start": "started a subscriber import",
    "subscribers_import": "imported subscribers",
    "subscribers_import_failed": "had a subscriber import fail",
    "subscribers_export": "exported subscribers",
    "staff_signout": "signed a staff member out everywhere",
    "totp_on": "turned on two-factor sign-in",
    "totp_off": "turned off two-factor sign-in",
}


def record(
    engine: sa.Engine,
    *,
    actor: str,
    action: str,
    subject: str = "",
    detail: str = "",
    staff_id: int | None = None,
    ip: str = "",
    now: datetime | None = None,
) -> None:
    """Add one entry (its own transaction). Long values are cut to fit their columns."""
    with Session(engine) as session:
        session.add(
            Activity(
                at=now or utcnow(),
                staff_id=staff_id,
                actor=actor[:320],
                action=action[:40],
                subject=subject[:320],
                detail=detail[:2000],
                ip=ip[:64],
            )
        )
        session.commit()


def entries(
    engine: sa.Engine,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Activity]:
    """Entries newest first, filtered by exact ``actor``, ``action`` and ``subject``; with
    ``before_id``, only those older than that entry (the next page)."""
    query = select(Activity).order_by(col(Activity.id).desc())
    if actor:
        query = query.where(Activity.actor == actor)
    if action:
        query = query.where(Activity.action == action)
    if subject:
        query = query.where(Activity.subject == subject)
    if before_id is not None:
        query = query.where(col(Activity.id) < before_id)
    with Session(engine) as session:
        return list(session.exec(query.limit(max(1, min(limit, MAX_LIMIT)))).all())


def choices(engine: sa.Engine) -> tuple[list[str], list[str]]:
    """(the actors, the actions) the log holds, sorted: what the filters offer."""
    with Session(engine) as session:
        actors = session.exec(select(Activity.actor).distinct().order_by(Activity.actor)).all()
        actions = session.exec(select(Activity.action).distinct().order_by(Activity.action)).all()
    return list(actors), list(actions)
