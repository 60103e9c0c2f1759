"""The email that carries a staff member's one-time sign-in link (an invitation or a reset).

A short transactional message, text and simple HTML, from ``from_email``. The email worker
builds it from the job queued with the link (``email_jobs/``), as it does the confirmation email.
It is not built from the newsletter's templates: it goes to one colleague, not to the list.
"""

from __future__ import annotations

from html import escape

from newsletter.config import Settings
from newsletter.models import Staff
from newsletter.staff import links
from newsletter.subscribers.address import sendable
from newsletter.transports.base import DeliveryError, Message, Recipient

SUBJECT = "Your sign-in link for the newsletter dashboard"


def message(settings: Settings, staff: Staff, token: str, purpose: str) -> Message:
    """The email to ``staff`` with the link of ``token`` (DeliveryError: an address that has
    no ASCII form)."""
    address = sendable(staff.email)
    if address is None:
        raise DeliveryError(f"{staff.email!r} cannot be mailed: non-ASCII before the @")
    url = links.url(settings.base_url, token)
    hours = int(links.LIFETIME.total_seconds() // 3600)
    org = settings.organisation_name
    why = (
        f"You have been invited to the newsletter dashboard of {org}."
        if purpose == links.INVITE
        else f"Your password for the newsletter dashboard of {org} was reset."
    )
    steps = f"Open this link to set your password. It works once, for {hours} hours:"
    after = "If you did not expect this email, ignore it: nothing happens without the link."
    text = f"Hello {staff.name or staff.email},\n\n{why}\n{steps}\n\n{url}\n\n{after}\n"
    html = (
        f'<!doctype html><html lang="en"><body><p>Hello {escape(staff.name or staff.email)},</p>'
        f"<p>{escape(why)}<br>{escape(steps)}</p>"
        f'<p><a href="{escape(url)}">{escape(url)}</a></p><p>{escape(after)}</p></body></html>'
    )
    return Message(
        subject=SUBJECT,
        html=html,
        text=text,
        from_email=settings.from_email,
        from_name=settings.from_name,
        reply_to=settings.reply_to,
        categories=("staff",),
        recipients=[Recipient(email=address, name=staff.name)],
    )
