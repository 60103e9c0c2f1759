"""What each role may do: the one place roles are turned into permissions.

Each role can do everything the one before it can. Routes ask for a Permission, never a role
(``web/admin/auth.py`` ``require``), so a new route cannot forget a role.
"""

from __future__ import annotations

from enum import StrEnum

from newsletter.models import Role


class Permission(StrEnum):
    read = "read"  # every issue, report, the activity log
    edit = "edit"  # drafts: save, restore, start the next quarter, preview, proofs
    publish = "publish"  # approve, schedule, unschedule, send now, stop
    read_subscribers = "read_subscribers"  # the subscriber list and a person's history
    manage_subscribers = "manage_subscribers"  # personal data: add, change, erase, import
    manage_staff = "manage_staff"  # staff accounts and their sessions


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.viewer: frozenset({Permission.read}),
    Role.editor: frozenset({Permission.read, Permission.edit}),
    Role.publisher: frozenset(
        {Permission.read, Permission.edit, Permission.publish, Permission.read_subscribers}
    ),
    Role.admin: frozenset(Permission),
}


def can(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
