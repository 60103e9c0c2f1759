"""Staff accounts: add, list, change a role, disable, enable, reset, set a password, sign in.

An address is validated and keyed as a subscriber's is (``subscribers/address.py``):
``Ann@Example.org`` and ``ann@example.org`` are one account. Disabling an account or resetting
its password ends every one of its sessions at once; disabling also voids its sign-in links.

``authenticate`` does the same argon2 work whether the address has an account, has no password
yet, is disabled, or the password is wrong, and answers None for all four: neither the answer
nor its timing tells which.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.errors import StaffError, UnknownStaff
from newsletter.models import Role, Staff, utcnow
from newsletter.staff import links, passwords, sessions, totp
from newsletter.subscribers.address import key_of, parse

NAME_MAX = 200


def find(engine: sa.Engine, email: str) -> Staff | None:
    """The account of ``email`` (any letter case), or None."""
    text = email.strip()
    if not text or len(text) > 320:
        return None
    with Session(engine) as session:
        return session.exec(select(Staff).where(Staff.email_key == key_of(text))).first()


def get(engine: sa.Engine, email: str) -> Staff:
    found = find(engine, email)
    if found is None:
        raise UnknownStaff(f"no staff member has the address {email.strip()[:80]!r}")
    return found


def by_id(engine: sa.Engine, staff_id: int) -> Staff | None:
    with Session(engine) as session:
        return session.get(Staff, staff_id)


def listing(engine: sa.Engine) -> list[Staff]:
    """Every account, by address."""
    with Session(engine) as session:
        return list(session.exec(select(Staff).order_by(col(Staff.email_key))).all())


def add(
    engine: sa.Engine, email: str, *, role: Role, name: str = "", now: datetime | None = None
) -> Staff:
    """A new account without a password (its owner sets one through a sign-in link)."""
    address = parse(email)  # InvalidAddress: one line naming the problem
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise StaffError(f"the name is too long: at most {NAME_MAX} characters")
    if find(engine, address.email) is not None:
        raise StaffError(f"{address.email} already has a staff account")
    staff = Staff(
        email=address.email,
        email_key=address.key,
        name=name,
        role=Role(role),
        created_at=now or utcnow(),
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(staff)
        try:
            session.commit()
        except sa.exc.IntegrityError:  # added meanwhile by someone else
            raise StaffError(f"{address.email} already has a staff account") from None
    return staff


def _change(engine: sa.Engine, email: str, **values: object) -> Staff:
    staff = get(engine, email)
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Staff, staff.id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        session.commit()
    return row


LAST_ADMIN = (
    "{email} is the last enabled admin: {what} would leave nobody able to manage staff. "
    "Make another account admin first."
)


def enabled_admins(engine: sa.Engine) -> int:
    with Session(engine) as session:
        query = select(sa.func.count()).where(
            col(Staff.role) == Role.admin.value, col(Staff.disabled_at).is_(None)
        )
        return int(session.exec(query).one())


def _keep_an_admin(engine: sa.Engine, staff: Staff, what: str) -> None:
    """Refuse (StaffError) to take the last enabled admin out of the admin role."""
    if staff.role == Role.admin and staff.disabled_at is None and enabled_admins(engine) <= 1:
        raise StaffError(LAST_ADMIN.format(email=staff.email, what=what))


def set_role(engine: sa.Engine, email: str, role: Role) -> tuple[Staff, Role]:
    """(the account with its new role, the role it had). The last enabled admin keeps theirs."""
    staff = get(engine, email)
    before = Role(staff.role)
    if Role(role) != Role.admin:
        _keep_an_admin(engine, staff, f"making them {role}")
    return _change(engine, email, role=Role(role)), before


def disable(engine: sa.Engine, email: str, *, now: datetime | None = None) -> Staff:
    """No more sign-ins; every session and sign-in link of the account ends now. The last
    enabled admin cannot be disabled."""
    now = now or utcnow()
    _keep_an_admin(engine, get(engine, email), "disabling them")
    staff = _change(engine, email, disabled_at=now)
    assert staff.id is not None
    sessions.revoke_all(engine, staff.id, now=now)
    links.void(engine, staff.id, now=now)
    return staff


def enable(engine: sa.Engine, email: str) -> Staff:
    return _change(engine, email, disabled_at=None)


def reset(
    engine: sa.Engine, email: str, *, now: datetime | None = None, last_admin: bool = False
) -> tuple[Staff, str]:
    """Clear the password and two-factor sign-in, end every session, and make a new sign-in
    link: (account, token). The last enabled admin is refused unless ``last_admin`` (the
    operator's ``newsletter staff reset``, the way back in for an admin who lost both)."""
    now = now or utcnow()
    staff = get(engine, email)
    if staff.disabled_at is not None:
        raise StaffError(f"{staff.email} is disabled: enable the account first")
    if not last_admin:
        _keep_an_admin(engine, staff, "resetting their password from the dashboard")
    assert staff.id is not None
    totp.turn_off(engine, staff.id)
    staff = _change(engine, email, password_hash="", password_changed_at=None)
    assert staff.id is not None
    sessions.revoke_all(engine, staff.id, now=now)
    return staff, links.create(engine, staff.id, links.RESET, now=now)


def set_password(
    engine: sa.Engine, staff_id: int, password: str, *, now: datetime | None = None
) -> Staff:
    """Check ``password`` against the rules (WeakPassword), store its hash, and end the
    account's sessions (a new password signs out every browser that knew the old one)."""
    now = now or utcnow()
    staff = by_id(engine, staff_id)
    if staff is None:
        raise UnknownStaff("that staff account no longer exists")
    passwords.check(password, email=staff.email, name=staff.name)
    staff = _change(
        engine,
        staff.email,
        password_hash=passwords.hash_password(password),
        password_changed_at=now,
    )
    sessions.revoke_all(engine, staff_id, now=now)
    return staff


def signed_in(engine: sa.Engine, staff_id: int, *, now: datetime | None = None) -> None:
    """Record a sign-in that did not go through ``authenticate`` (a sign-in link)."""
    with engine.begin() as connection:
        connection.execute(
            sa.update(Staff).where(col(Staff.id) == staff_id).values(last_signin_at=now or utcnow())
        )


def authenticate(
    engine: sa.Engine, email: str, password: str, *, now: datetime | None = None
) -> Staff | None:
    """The enabled account whose password this is, or None (unknown address, no password yet,
    disabled, wrong password: the same answer after the same work). Records the sign-in time
    and stores a fresh hash when the stored one was made with older parameters."""
    staff = find(engine, email)
    if staff is None:
        passwords.dummy_verify(password)
        return None
    matches, fresh = passwords.verify(password, staff.password_hash)
    if not matches or staff.disabled_at is not None:
        return None
    values: dict[str, object] = {"last_signin_at": now or utcnow()}
    if fresh is not None:
        values["password_hash"] = fresh
    return _change(engine, staff.email, **values)
