"""Who is signed in, and may they: the staff area's one gate (CONTRACT; bodies by the auth work).

Every /admin route except the sign-in pages depends on ``require(permission)``:

    @router.get("/admin/issues")
    def issues(staffer: Annotated[Staffer, Depends(require(Permission.read))]) -> Response: ...

``require(p)`` returns a dependency object with a ``.permission`` attribute (the route walk test
reads it). It answers, in this order:
- no valid session (no cookie, unknown, revoked, idle or past its absolute age, staff disabled):
  GET/HEAD -> 303 to /admin/login?next=<path>; other methods -> 401 page;
- an unsafe method (POST, PUT, PATCH, DELETE) whose Origin / Sec-Fetch-Site is foreign, or
  whose form field ``csrf_token`` / header ``X-CSRF-Token`` is not the session's: 403;
- a role without the permission: 403 page;
- else the Staffer (and the session's last_seen_at is touched).
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.models import Role
from newsletter.staff.roles import Permission, can


@dataclass(frozen=True)
class Staffer:
    """The signed-in staff member, as a route sees them."""

    id: int
    email: str
    name: str
    role: Role
    session_id: int
    csrf_token: str
    ip: str = ""

    def can(self, permission: Permission) -> bool:
        return can(self.role, permission)

    @property
    def label(self) -> str:
        """How the activity log and revisions name them."""
        return self.email
