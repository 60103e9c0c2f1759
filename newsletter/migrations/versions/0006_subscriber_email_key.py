"""one person, one subscriber: subscriber.email_key (unique), case duplicates merged; subscriber
ids never reused (AUTOINCREMENT on SQLite)

Addresses that differ only in letter case (``Ann@x.org``, ``ann@x.org``) were different
subscribers. Each such group becomes one: the subscriber with the earliest consent is kept,
with every consent record, status event and delivery of the others, and the most restrictive
status (complained, then bounced, then unsubscribed, then confirmed, then pending). What was
merged is logged (logger ``newsletter.migrations``, shown on stderr by ``newsletter db
upgrade``). A merged duplicate's old links (confirm, unsubscribe) stop working: its token key is
gone; the kept subscriber's links work, and so do the one-click links of every later issue.

On SQLite the subscriber table is rebuilt with AUTOINCREMENT. Its children (consent,
status_event, delivery) are copied aside and put back around the rebuild, because dropping the
old table with foreign keys on (they are on for every connection) would cascade into them.

Revision ID: 0006
Revises: 0005
"""

# ruff: noqa: S608  (table names from this file's constants, never from input)

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

from newsletter.models import UTCDateTime, utcnow

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("newsletter.migrations")
# most restrictive first
SEVERITY = ("complained", "bounced", "unsubscribed", "confirmed", "pending")
CHILDREN = ("consent", "status_event")


def key_of(email: str) -> str:
    """The key, frozen here as subscribers/address.py computes it for a stored address."""
    text = email.strip()
    domain = text.rpartition("@")[2]
    if domain.isascii() and "xn--" not in domain.lower():
        return text.lower()
    try:
        return str(validate_email(text, check_deliverability=False).normalized).lower()
    except EmailNotValidError:
        return text.lower()


@dataclass
class Row:
    id: int
    email: str
    name: str
    status: str
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    confirmation_sent_at: datetime | None
    first_consent: datetime | None


TIMES = ("created_at", "confirmed_at", "unsubscribed_at", "confirmation_sent_at")
subscriber = sa.table(
    "subscriber",
    sa.column("id", sa.Integer()),
    *(sa.column(c, sa.String()) for c in ("email", "name", "status")),
    *(sa.column(c, UTCDateTime()) for c in TIMES),
)
consent = sa.table("consent", sa.column("subscriber_id"), sa.column("at", UTCDateTime()))
status_event = sa.table(
    "status_event",
    *(sa.column(c) for c in ("subscriber_id", "from_status", "to_status", "reason")),
    sa.column("at", UTCDateTime()),
)


def _rows(bind: sa.Connection) -> list[Row]:
    first = sa.select(consent.c.subscriber_id, sa.func.min(consent.c.at)).group_by(
        consent.c.subscriber_id
    )
    firsts = {row[0]: row[1] for row in bind.execute(first)}
    columns = [subscriber.c[c] for c in ("id", "email", "name", "status", *TIMES)]
    query = sa.select(*columns).order_by(subscriber.c.id)
    return [Row(**r._mapping, first_consent=firsts.get(r.id)) for r in bind.execute(query)]


def _earliest(row: Row) -> tuple[datetime, datetime, int]:
    return (row.first_consent or row.created_at, row.created_at, int(row.id))


def _merge(bind: sa.Connection, group: list[Row]) -> None:
    kept, *others = sorted(group, key=_earliest)
    ids = [o.id for o in others]
    status = min((r.status for r in group), key=lambda s: SEVERITY.index(s) if s in SEVERITY else 0)
    confirmed = [r.confirmed_at for r in group if r.confirmed_at is not None]
    unsubscribed = [r.unsubscribed_at for r in group if r.unsubscribed_at is not None]
    sent = [r.confirmation_sent_at for r in group if r.confirmation_sent_at is not None]
    values: dict[str, Any] = {
        "status": status,
        "name": kept.name or next((r.name for r in others if r.name), ""),
        "confirmed_at": min(confirmed) if confirmed else None,
        "unsubscribed_at": max(unsubscribed) if unsubscribed else None,
        "confirmation_sent_at": max(sent) if sent else None,
    }
    bind.execute(subscriber.update().where(subscriber.c.id == kept.id).values(**values))
    many: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
    for child in CHILDREN:
        bind.execute(
            sa.text(
                f"UPDATE {child} SET subscriber_id = :kept WHERE subscriber_id IN :ids"
            ).bindparams(many),
            {"kept": kept.id, "ids": ids},
        )
    _merge_deliveries(bind, kept.id, ids)
    reason = f"merged subscribers {', '.join(map(str, ids))} into this one (same address)"
    bind.execute(
        status_event.insert(),
        {"subscriber_id": kept.id, "at": utcnow(), "from_status": kept.status,
         "to_status": status, "reason": reason[:200]},
    )  # fmt: skip
    bind.execute(sa.text("DELETE FROM subscriber WHERE id IN :ids").bindparams(many), {"ids": ids})
    log.warning(
        "merged %d subscribers with the address %s (letter case aside) into subscriber %d: "
        "status %s, %s removed",
        len(group), kept.email, kept.id, status, ", ".join(f"#{o.id} {o.email}" for o in others),
    )  # fmt: skip


def _merge_deliveries(bind: sa.Connection, kept: int, ids: list[int]) -> None:
    """Every delivery of the duplicates goes to the kept subscriber, except where that would put
    one person twice in a send: there the kept subscriber's own row (or the first) stays, and
    the others keep their outcome but point at nobody; one not sent yet never will be."""
    rows = bind.execute(
        sa.text(
            "SELECT id, send_id, subscriber_id, status FROM delivery "
            "WHERE subscriber_id IN :ids ORDER BY id"
        ).bindparams(sa.bindparam("ids", expanding=True)),
        {"ids": [kept, *ids]},
    ).all()
    owner: dict[int, int] = {}  # send_id -> the delivery row that stays the person's
    for row in sorted(rows, key=lambda r: r[2] != kept):  # the kept one's own rows first
        owner.setdefault(row[1], row[0])
    moved = [{"i": r[0], "k": kept} for r in rows if owner[r[1]] == r[0] and r[2] != kept]
    note = f"merged into subscriber {kept}: the same address in another letter case"
    dropped = [
        {"i": r[0], "n": note, "s": "skipped" if r[3] in ("pending", "in_flight") else r[3]}
        for r in rows
        if owner[r[1]] != r[0]
    ]
    if moved:
        bind.execute(sa.text("UPDATE delivery SET subscriber_id = :k WHERE id = :i"), moved)
    if dropped:
        bind.execute(
            sa.text(
                "UPDATE delivery SET subscriber_id = NULL, last_error = :n, status = :s "
                "WHERE id = :i"
            ),
            dropped,
        )


@contextmanager
def _children_kept(bind: sa.Connection) -> Iterator[None]:
    """SQLite: rebuilding the subscriber table drops the old one, which cascades into its
    children (foreign keys are on); copy them aside and put them back afterwards."""
    if bind.dialect.name != "sqlite":
        yield
        return
    for child in CHILDREN:
        bind.execute(sa.text(f"CREATE TEMP TABLE kept_{child} AS SELECT * FROM {child}"))
    bind.execute(
        sa.text(
            "CREATE TEMP TABLE kept_delivery AS SELECT id, subscriber_id FROM delivery "
            "WHERE subscriber_id IS NOT NULL"
        )
    )
    yield
    for child in CHILDREN:
        bind.execute(sa.text(f"DELETE FROM {child}"))
        bind.execute(sa.text(f"INSERT INTO {child} SELECT * FROM kept_{child}"))
        bind.execute(sa.text(f"DROP TABLE kept_{child}"))
    bind.execute(
        sa.text(
            "UPDATE delivery SET subscriber_id = (SELECT k.subscriber_id FROM kept_delivery k "
            "WHERE k.id = delivery.id) WHERE id IN (SELECT id FROM kept_delivery)"
        )
    )
    bind.execute(sa.text("DROP TABLE kept_delivery"))


def _recreate(bind: sa.Connection) -> Any:
    """SQLite: rebuild the table (AUTOINCREMENT, NOT NULL); elsewhere plain ALTER TABLE."""
    return "always" if bind.dialect.name == "sqlite" else "auto"


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("subscriber", sa.Column("email_key", sa.String(length=320), nullable=True))
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in _rows(bind):
        groups[key_of(row.email)].append(row)
    merged = 0
    for group in groups.values():
        if len(group) > 1:
            _merge(bind, group)
            merged += len(group) - 1
    for group in groups.values():  # the kept one of a merged group may not be group[0]
        group.sort(key=_earliest)
    keys = [{"i": group[0].id, "k": key} for key, group in groups.items()]
    if keys:
        bind.execute(sa.text("UPDATE subscriber SET email_key = :k WHERE id = :i"), keys)
    if merged:
        log.warning("merged %d duplicate subscribers (addresses differing in letter case)", merged)
    with (
        _children_kept(bind),
        op.batch_alter_table(
            "subscriber", recreate=_recreate(bind), table_kwargs={"sqlite_autoincrement": True}
        ) as batch,
    ):
        batch.alter_column("email_key", existing_type=sa.String(length=320), nullable=False)
        batch.create_index("ix_subscriber_email_key", ["email_key"], unique=True)


def downgrade() -> None:
    bind = op.get_bind()
    with (
        _children_kept(bind),
        op.batch_alter_table("subscriber", recreate=_recreate(bind)) as batch,
    ):
        batch.drop_index("ix_subscriber_email_key")
        batch.drop_column("email_key")
