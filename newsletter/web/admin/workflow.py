"""``/admin/issues/{slug}/send``: an issue's way out. Proofs (editors), approval, scheduling in the
organisation's time zone, Send now with the slug typed to confirm, live progress and Stop
(publishers). Every change is one POST that answers 303 back to the page (or the page again with
the one-line error), and goes in the activity log.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.errors import NewsletterError
from newsletter.issues.build import build_issue
from newsletter.models import SendKind, delivery_table, send_table, utcnow
from newsletter.sending import approval, send_time, states, stopping
from newsletter.sending.sender import Sender, SendOptions, checked_build
from newsletter.staff.roles import Permission
from newsletter.subscribers.tokens import Tokens
from newsletter.web.admin.auth import Editor, Publisher, Reader, Staffer
from newsletter.web.admin.issues import issue_path, when
from newsletter.web.admin.render import render
from newsletter.web.deps import Web, WebState
from newsletter.web.ratelimit import ProofLimit

router = APIRouter()
MAX_PROOFS = 10
DONE = {  # ?done=... after a POST: fixed words, nothing from the request is echoed
    "approved": "Approved.",
    "withdrawn": "Approval withdrawn.",
    "proof": "Proof sent: it is in the inboxes (or the outbox) now.",
    "scheduled": "Scheduled.",
    "unscheduled": "Unscheduled: the issue has no send time now.",
    "started": "The send has started.",
    "queued": "The send is ready: cron's send-due starts it on its next run.",
    "stopping": "Stop requested: the send stops after the batch in flight.",
}


def _back(slug: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/issues/{slug}/send?done={done}", status_code=303)


def _proofs(w: Web, slug: str) -> list[dict[str, Any]]:
    """The issue's last 20 proofs: when, by whom, to whom, how they went."""
    s, d = send_table.c, delivery_table.c
    with w.engine.connect() as connection:
        heads = connection.execute(
            sa.select(s.id, s.started_at, s.started_by, s.status)
            .where(s.issue_slug == slug, s.kind == SendKind.test.value)
            .order_by(s.started_at.desc(), s.id.desc())
            .limit(20)
        ).all()
        to: dict[int, list[str]] = {h.id: [] for h in heads}
        for send_id, email, status in connection.execute(
            sa.select(d.send_id, d.email, d.status).where(d.send_id.in_(list(to)))
        ):
            to[send_id].append(email if status == "accepted" else f"{email} ({status})")
    return [{"at": h.started_at, "by": h.started_by, "to": to[h.id]} for h in heads]


def page(
    request: Request,
    staffer: Staffer,
    w: WebState,
    slug: str,
    *,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    issue_path(w.settings, slug)
    [found] = states.issue_states(w.settings, w.engine, only=slug)
    findings, build_error, compiled = [], "", ""
    try:
        build = build_issue(w.settings, w.engine, slug)
        findings, compiled = build.findings, build.compiled.content_hash
    except NewsletterError as exc:
        build_error = str(exc)
    if compiled and found.standing.last is not None:  # void when the email changed since
        standing = approval.standing(
            found.standing.last, found.content_hash, w.settings.zone, compiled
        )
        if standing.approved != found.standing.approved:
            state = states.State.draft if found.state == states.State.approved else found.state
            found = dataclasses.replace(found, standing=standing, state=state)
    zone = send_time.zone_of(w.settings, slug)
    now = utcnow()
    suggested = found.send_at or (now + timedelta(days=1)).astimezone(zone).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    edit = approval.last_edit(w.engine, slug, approval.file_text(w.settings, slug))
    done = DONE.get(request.query_params.get("done", ""), "")
    return render(
        request,
        staffer,
        "issue_send.html",
        status=status,
        title=f"Send {slug}",
        slug=slug,
        tab="send",
        r=found,
        compiled_hash=compiled,
        error=error,
        done=done,
        findings=findings,
        build_error=build_error,
        errors=sum(1 for f in findings if f.level == "error"),
        proofs=_proofs(w, slug),
        zone=zone.key,
        offset=now.astimezone(zone).strftime("%z"),
        at_value=suggested.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        when=when(zone),
        required=w.settings.require_approval,
        own_edit=edit is not None and edit.staff_id == staffer.id,
        in_server=request.app.state.due_sender.enabled,
        active=found.state in states.ACTIVE,
        can_edit=staffer.can(Permission.edit),
        can_publish=staffer.can(Permission.publish),
    )


@router.get("/admin/issues/{slug}/send", response_class=HTMLResponse)
def send_page(request: Request, staffer: Reader, w: WebState, slug: str) -> HTMLResponse:
    return page(request, staffer, w, slug)


@router.get("/admin/issues/{slug}/progress", response_class=HTMLResponse)
def progress(request: Request, staffer: Reader, w: WebState, slug: str) -> HTMLResponse:
    """The live panel alone, for htmx to swap in every 2 s while the send is under way."""
    issue_path(w.settings, slug)
    [found] = states.issue_states(w.settings, w.engine, only=slug)
    return render(
        request,
        staffer,
        "issue_progress.html",
        slug=slug,
        r=found,
        when=when(send_time.zone_of(w.settings, slug)),
        active=found.state in states.ACTIVE,
    )


@router.post("/admin/issues/{slug}/approve")
def approve(
    request: Request,
    staffer: Publisher,
    w: WebState,
    slug: str,
    content_hash: Annotated[str, Form()] = "",
    compiled_hash: Annotated[str, Form()] = "",
) -> Response:
    issue_path(w.settings, slug)
    try:
        approval.approve(
            w.settings,
            w.engine,
            slug,
            content_hash,
            staff_id=staffer.id,
            approver=staffer.label,
            seen_compiled=compiled_hash or None,
        )
    except NewsletterError as exc:
        return page(request, staffer, w, slug, error=str(exc), status=409)
    staffer.log(w.engine, "approve", slug, f"content {content_hash[:12]}")
    return _back(slug, "approved")


@router.post("/admin/issues/{slug}/withdraw")
def withdraw(request: Request, staffer: Publisher, w: WebState, slug: str) -> Response:
    issue_path(w.settings, slug)
    if approval.withdraw(w.engine, slug):
        staffer.log(w.engine, "withdraw", slug)
    return _back(slug, "withdrawn")


ADDRESS_SPLIT = re.compile(r"[\s,;]+")


def _proof_limit(request: Request) -> ProofLimit:
    found: ProofLimit = request.app.state.proof_limit
    return found


def _too_many(request: Request, seconds: int) -> str:
    """The one line for a proof over the limit: the limit, and when it may go."""
    minutes = max(1, math.ceil(seconds / 60))
    at = (utcnow() + timedelta(seconds=seconds)).strftime("%H:%M UTC")
    return (
        f"proofs go to at most {_proof_limit(request).count} recipients an hour per person, "
        f"and this one would pass it: try again in {minutes} minute"
        f"{'' if minutes == 1 else 's'} (at {at}), or send it to fewer addresses"
    )


@router.post("/admin/issues/{slug}/proofs")
def proof(
    request: Request,
    staffer: Editor,
    w: WebState,
    slug: str,
    addresses: Annotated[str, Form()] = "",
) -> Response:
    """A [TEST] proof to the signed-in person, or to up to ten typed addresses; at most
    ``PROOF_LIMIT`` recipients an hour per staff member (429 beyond)."""
    issue_path(w.settings, slug)
    to = [a for a in ADDRESS_SPLIT.split(addresses[:4000]) if a] or [staffer.email]
    if len(to) > MAX_PROOFS:
        error = f"a proof goes to at most {MAX_PROOFS} addresses; {len(to)} were given"
        return page(request, staffer, w, slug, error=error, status=400)
    try:
        build = checked_build(w.settings, w.engine, slug)
        wait = _proof_limit(request).take(staffer.id, len(to))
        if wait:
            return page(request, staffer, w, slug, error=_too_many(request, wait), status=429)
        options = SendOptions.from_settings(w.settings, started_by=staffer.label)
        tokens = Tokens.from_settings(w.settings)
        sender = Sender(w.engine, request.app.state.transport, tokens, options)
        sender.run(sender.start_test(build.compiled, to))
    except NewsletterError as exc:
        return page(request, staffer, w, slug, error=str(exc), status=409)
    staffer.log(w.engine, "proof", slug, f"to {len(to)} address{'es' if len(to) > 1 else ''}")
    return _back(slug, "proof")


@router.post("/admin/issues/{slug}/schedule")
def schedule(
    request: Request, staffer: Publisher, w: WebState, slug: str, at: Annotated[str, Form()] = ""
) -> Response:
    issue_path(w.settings, slug)
    try:
        when_at = send_time.parse_local(at[:40], send_time.zone_of(w.settings, slug))
        send_time.schedule(
            w.settings, w.engine, slug, when_at, author=staffer.label, staff_id=staffer.id
        )
    except NewsletterError as exc:
        return page(request, staffer, w, slug, error=str(exc), status=409)
    staffer.log(w.engine, "schedule", slug, f"send_at {when_at.isoformat(timespec='minutes')}")
    return _back(slug, "scheduled")


@router.post("/admin/issues/{slug}/unschedule")
def unschedule(request: Request, staffer: Publisher, w: WebState, slug: str) -> Response:
    issue_path(w.settings, slug)
    try:
        changed = send_time.unschedule(
            w.settings, w.engine, slug, author=staffer.label, staff_id=staffer.id
        )
    except NewsletterError as exc:
        return page(request, staffer, w, slug, error=str(exc), status=409)
    if changed:
        staffer.log(w.engine, "unschedule", slug)
    return _back(slug, "unscheduled")


@router.post("/admin/issues/{slug}/send-now")
def send_now(
    request: Request,
    staffer: Publisher,
    w: WebState,
    slug: str,
    confirm_slug: Annotated[str, Form()] = "",
) -> Response:
    """Starts the live send (or resumes a stopped one) once the slug is typed to confirm."""
    issue_path(w.settings, slug)
    if confirm_slug.strip() != slug:
        error = f"to send it to the whole list, type the issue's name, {slug}, in the box"
        return page(request, staffer, w, slug, error=error, status=400)
    try:
        send = send_time.send_now(
            w.settings, w.engine, slug, author=staffer.label, staff_id=staffer.id
        )
    except NewsletterError as exc:
        return page(request, staffer, w, slug, error=str(exc), status=409)
    staffer.log(w.engine, "send", slug, f"send {send.id} to {send.audience} recipients")
    woken = request.app.state.due_sender.wake()
    return _back(slug, "started" if woken else "queued")


@router.post("/admin/issues/{slug}/stop")
def stop(request: Request, staffer: Publisher, w: WebState, slug: str) -> Response:
    issue_path(w.settings, slug)
    send = stopping.request_stop(w.engine, slug)
    if send is None:
        error = f"{slug} has no send under way to stop"
        return page(request, staffer, w, slug, error=error, status=409)
    staffer.log(w.engine, "stop", slug, f"send {send.id}")
    return _back(slug, "stopping")
