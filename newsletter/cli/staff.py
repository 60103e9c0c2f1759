"""``newsletter staff ...``: the people who sign in to the dashboard (docs/staff.md).

Each change is written to the activity log with the actor ``cli``. Links are printed once and
never stored (only their SHA-256 is).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.console import Format, Group, open_engine, out, reports_errors, shown
from newsletter.errors import StaffError

if TYPE_CHECKING:
    from newsletter.models import Staff

staff_app = typer.Typer(
    help="Dashboard accounts: add, list, role, disable, enable, reset.",
    no_args_is_help=True,
    cls=Group,
)
EmailArgument = Annotated[str, typer.Argument(help="The staff member's email address.")]


class RoleChoice(StrEnum):
    """``models.Role``'s values, so ``--help`` need not import the schema (a test keeps them
    equal); a command turns the choice into the Role."""

    viewer = "viewer"
    editor = "editor"
    publisher = "publisher"
    admin = "admin"


def _link_line(base_url: str, token: str) -> str:
    from newsletter.staff import links

    hours = int(links.LIFETIME.total_seconds() // 3600)
    return (
        f"sign-in link (works once, for {hours} hours; send it to them privately):\n"
        f"{links.url(base_url, token)}"
    )


def _status(staff: Staff) -> str:
    if staff.disabled_at is not None:
        return "disabled"
    return "active" if staff.password_hash else "invited"


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "never"


@staff_app.command("add")
@reports_errors
def add(
    email: EmailArgument,
    role: Annotated[RoleChoice, typer.Option(help="viewer, editor, publisher or admin.")],
    name: Annotated[str, typer.Option(help="Their name, as the dashboard shows it.")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read their password from standard input (for scripts) instead of printing "
            "a sign-in link.",
        ),
    ] = False,
) -> None:
    """Add a staff member and print their one-time sign-in link (valid 24 hours)."""
    from newsletter.config import get_settings
    from newsletter.models import Role
    from newsletter.staff import accounts, activity, links, passwords

    settings = get_settings()
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else ""
    if password_stdin:
        passwords.check(password, email=email, name=name)  # before anything is added
    engine = open_engine(settings)
    staff = accounts.add(engine, email, role=Role(role), name=name)
    assert staff.id is not None
    activity.record(
        engine,
        actor=activity.CLI,
        action="staff_add",
        subject=staff.email,
        detail=f"role {staff.role}",
        staff_id=None,
    )
    out.print(f"added {shown(staff.email)} ({staff.role})")
    if password_stdin:
        accounts.set_password(engine, staff.id, password)
        activity.record(engine, actor=activity.CLI, action="password_set", subject=staff.email)
        out.print("password set; they can sign in at " + shown(f"{settings.base_url}/admin"))
        return
    token = links.create(engine, staff.id, links.INVITE)
    out.print(shown(_link_line(settings.base_url, token)))


@staff_app.command("list")
@reports_errors
def list_(
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Show every staff member: email, name, role, status, last sign-in."""
    from rich.table import Table

    from newsletter.config import get_settings
    from newsletter.staff import accounts

    rows = accounts.listing(open_engine(get_settings()))
    if output is Format.json:
        data = [
            {
                "email": s.email,
                "name": s.name,
                "role": str(s.role),
                "status": _status(s),
                "last_signin_at": s.last_signin_at.isoformat() if s.last_signin_at else None,
            }
            for s in rows
        ]
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    table = Table(
        "email", "name", "role", "status", "last sign-in", title=f"{len(rows)} staff members"
    )
    for s in rows:
        table.add_row(
            shown(s.email), shown(s.name), str(s.role), _status(s), _when(s.last_signin_at)
        )
    out.print(table)


@staff_app.command("role")
@reports_errors
def role(
    email: EmailArgument,
    new_role: Annotated[RoleChoice, typer.Argument(help="viewer, editor, publisher or admin.")],
) -> None:
    """Change a staff member's role (their open sessions get it with their next click)."""
    from newsletter.config import get_settings
    from newsletter.models import Role
    from newsletter.staff import accounts, activity

    engine = open_engine(get_settings())
    staff, before = accounts.set_role(engine, email, Role(new_role))
    activity.record(
        engine,
        actor=activity.CLI,
        action="staff_role",
        subject=staff.email,
        detail=f"{before} -> {staff.role}",
    )
    out.print(f"{shown(staff.email)}: {before} -> {staff.role}")


@staff_app.command("disable")
@reports_errors
def disable(email: EmailArgument) -> None:
    """Stop a staff member signing in: every session and sign-in link of theirs ends now."""
    from newsletter.config import get_settings
    from newsletter.staff import accounts, activity

    engine = open_engine(get_settings())
    found = accounts.get(engine, email)
    if found.disabled_at is not None:
        raise StaffError(f"{found.email} is already disabled")
    staff = accounts.disable(engine, email)
    activity.record(engine, actor=activity.CLI, action="staff_disable", subject=staff.email)
    out.print(f"disabled {shown(staff.email)}; their sessions have ended")


@staff_app.command("enable")
@reports_errors
def enable(email: EmailArgument) -> None:
    """Let a disabled staff member sign in again (with their password, or after a reset)."""
    from newsletter.config import get_settings
    from newsletter.staff import accounts, activity

    engine = open_engine(get_settings())
    staff = accounts.enable(engine, email)
    activity.record(engine, actor=activity.CLI, action="staff_enable", subject=staff.email)
    out.print(f"enabled {shown(staff.email)}")


@staff_app.command("reset")
@reports_errors
def reset(email: EmailArgument) -> None:
    """Clear a staff member's password, end their sessions, and print a new sign-in link."""
    from newsletter.config import get_settings
    from newsletter.staff import accounts, activity

    settings = get_settings()
    engine = open_engine(settings)
    staff, token = accounts.reset(engine, email, last_admin=True)
    activity.record(engine, actor=activity.CLI, action="staff_reset", subject=staff.email)
    out.print(f"password of {shown(staff.email)} cleared; their sessions have ended")
    out.print(shown(_link_line(settings.base_url, token)))
