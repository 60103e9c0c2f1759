"""/admin/subscribers: the list (search, filters, keyset pages, counts per status), a person's
page (status history, consent, deliveries) and what an admin may do to it, and adding one
address. Publishers and admins read (``read_subscribers``); only admins change personal data
(``manage_subscribers``), through the same core functions as ``newsletter subscribers``.

The activity log names a person by their subscriber id (``subscriber #12``), never by address:
every role may read the log, and only some may read the list (docs/dashboard.md).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from newsletter.db import session_scope
from newsletter.email_jobs import queue
from newsletter.errors import InvalidAddress, NewsletterError
from newsletter.models import Subscriber, SubscriberStatus, utcnow
from newsletter.staff.roles import Permission
from newsletter.subscribers import directory, store
from newsletter.subscribers.address import key_of
from newsletter.subscribers.confirmation import add_pending, resend
from newsletter.web.admin.auth import Staffer, require
from newsletter.web.admin.render import render, when
from newsletter.web.deps import web_state

router = APIRouter()
PATH = "/admin/subscribers"
ReadsList = Annotated[Staffer, Depends(require(Permission.read_subscribers))]
ManagesList = Annotated[Staffer, Depends(require(Permission.manage_subscribers))]
DONE = {
    "unsubscribed": "Unsubscribed: they will get no more issues.",
    "resubscribed": "Resubscribed, with the consent you recorded.",
    "resent": "The confirmation email is on its way again.",
    "added": "Added.",
    "added_pending": "Added as pending; the confirmation email is on its way.",
    "erased": "Erased. The address is suppressed: it is not imported, signed up or added again "
    "unless the person asks to come back.",
}


def subject(subscriber_id: int | None) -> str:
    """How the activity log names a subscriber (never by address)."""
    return f"subscriber #{subscriber_id}"


def _param(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()[: directory.MAX_TEXT]


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def counts_of(request: Request) -> directory.Counts:
    """The app's kept counts (``install`` makes them; forgotten after each change made here)."""
    kept = request.app.state.subscriber_counts
    assert isinstance(kept, directory.Counts)
    return kept


def filters_of(request: Request) -> directory.Filters:
    """The list's filters from the query string (anything unreadable is ignored)."""
    status = _param(request, "status")
    return directory.Filters(
        q=_param(request, "q"),
        status=SubscriberStatus(status) if status in SubscriberStatus.__members__ else None,
        source=_param(request, "source"),
        since=_day(_param(request, "since")),
        until=_day(_param(request, "until")),
    )


def query_of(filters: directory.Filters) -> dict[str, str]:
    found = {
        "q": filters.q,
        "status": filters.status.value if filters.status else "",
        "source": filters.source,
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
    }
    return {name: value for name, value in found.items() if value}


@router.get(PATH)
def listing(request: Request, staffer: ReadsList) -> Response:
    web = web_state(request)
    filters = filters_of(request)
    older = directory.Cursor.parse(_param(request, "older"))
    newer = directory.Cursor.parse(_param(request, "newer"))
    with web.engine.connect() as connection:
        found = directory.page(connection, filters, older_than=older, newer_than=newer)
    counts = counts_of(request).get(web.engine)
    kept = query_of(filters)
    zone = web.settings.timezone
    rows = [
        {
            "id": row.id,
            "email": row.email,
            "name": row.name,
            "status": row.status,
            "since": when(row.created_at, zone),
            "source": row.source or "",
        }
        for row in found.rows
    ]
    return render(
        request,
        staffer,
        "subscribers.html",
        title="Subscribers",
        rows=rows,
        filters={"q": "", "status": "", "source": "", "since": "", "until": "", **kept},
        filtered=bool(kept),
        statuses=[s.value for s in SubscriberStatus],
        counts=counts,
        total=sum(counts.values()),
        newer=f"{PATH}?{urlencode({**kept, 'newer': str(found.newer)})}" if found.newer else "",
        older=f"{PATH}?{urlencode({**kept, 'older': str(found.older)})}" if found.older else "",
        newest=f"{PATH}?{urlencode(kept)}" if older or newer else "",
        export=f"{PATH}/export?{urlencode(kept)}",
        manage=staffer.can(Permission.manage_subscribers),
        done=DONE.get(request.query_params.get("done", ""), ""),
    )


def _person(request: Request, staffer: Staffer, subscriber_id: int, *, status: int = 200,
            problem: str = "") -> Response:  # fmt: skip
    web = web_state(request)
    zone = web.settings.timezone
    with Session(web.engine) as session:
        person = session.get(Subscriber, subscriber_id)
        if person is None:
            text = "This subscriber is not on the list (they may have been erased)."
            return render(
                request, staffer, "message.html", status=404, title="Not on the list", text=text
            )
        consents, events = store.history(session, person)
        sent = directory.deliveries(session, subscriber_id)

    def stamp(at: datetime | None) -> str:
        return when(at, zone) if at else ""

    return render(
        request,
        staffer,
        "subscriber.html",
        status=status,
        title=person.email,
        person=person,
        since=stamp(person.created_at),
        confirmed=stamp(person.confirmed_at),
        unsubscribed=stamp(person.unsubscribed_at),
        asked=stamp(person.confirmation_sent_at),
        consents=[(stamp(c.at), c) for c in consents],
        events=[(stamp(e.at), e) for e in events],
        sent=[(stamp(s.delivery.updated_at), s) for s in sent],
        manage=staffer.can(Permission.manage_subscribers),
        may_resend=not store.may_resend(person, utcnow()),
        problem=problem,
        done=DONE.get(request.query_params.get("done", ""), ""),
    )


@router.get(PATH + "/{subscriber_id:int}")
def person_page(request: Request, staffer: ReadsList, subscriber_id: int) -> Response:
    return _person(request, staffer, subscriber_id)


async def _field(request: Request, name: str, limit: int = 500) -> str:
    value = (await request.form()).get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _back(subscriber_id: int, done: str) -> Response:
    return RedirectResponse(f"{PATH}/{subscriber_id}?done={done}", status_code=303)


def _key_of(engine: sa.Engine, subscriber_id: int) -> str | None:
    with Session(engine) as session:
        person = session.get(Subscriber, subscriber_id)
        return person.key if person else None


@router.post(PATH + "/{subscriber_id:int}/unsubscribe")
def unsubscribe(request: Request, staffer: ManagesList, subscriber_id: int) -> Response:
    web = web_state(request)
    key = _key_of(web.engine, subscriber_id)
    if key is None:
        return _person(request, staffer, subscriber_id)
    with session_scope(web.engine) as session:
        before = store.by_key(session, key).status
        after = store.unsubscribe(session, key, "unsubscribed by staff", utcnow()).status
    if before == after:
        problem = f"Nothing changed: a {before} address cannot be unsubscribed."
        return _person(request, staffer, subscriber_id, status=409, problem=problem)
    counts_of(request).forget()
    staffer.log(web.engine, "subscriber_unsubscribe", subject(subscriber_id))
    return _back(subscriber_id, "unsubscribed")


@router.post(PATH + "/{subscriber_id:int}/resubscribe")
async def resubscribe(request: Request, staffer: ManagesList, subscriber_id: int) -> Response:
    web = web_state(request)
    source = await _field(request, "source")
    if not source:
        return _person(request, staffer, subscriber_id, status=400, problem=(
            "Say where and how the person agreed again (the consent source): a resubscription "
            "is only recorded with their consent."))  # fmt: skip
    with session_scope(web.engine) as session:
        person = session.get(Subscriber, subscriber_id)
        if person is None:
            return _person(request, staffer, subscriber_id)
        consent = store.ConsentInfo(source=f"resubscribed by staff: {source}")
        changed = store.restore(session, person, consent)
    if not changed:
        return _person(request, staffer, subscriber_id, status=409, problem=(
            "Only an unsubscribed address that had confirmed before can be resubscribed by "
            "staff; anyone else must confirm again (send the confirmation email)."))  # fmt: skip
    counts_of(request).forget()
    staffer.log(web.engine, "subscriber_resubscribe", subject(subscriber_id), source[:200])
    return _back(subscriber_id, "resubscribed")


@router.post(PATH + "/{subscriber_id:int}/confirmation")
def resend_confirmation(request: Request, staffer: ManagesList, subscriber_id: int) -> Response:
    web = web_state(request)
    try:
        resend(web.engine, subscriber_id, queue.ask)
    except NewsletterError as exc:
        return _person(request, staffer, subscriber_id, status=409, problem=str(exc))
    web.queued(True)
    staffer.log(web.engine, "subscriber_confirmation", subject(subscriber_id))
    return _back(subscriber_id, "resent")


@router.post(PATH + "/{subscriber_id:int}/erase")
async def erase(request: Request, staffer: ManagesList, subscriber_id: int) -> Response:
    web = web_state(request)
    typed = await _field(request, "confirm", 320)
    with Session(web.engine) as session:
        person = session.get(Subscriber, subscriber_id)
    if person is None:
        return _person(request, staffer, subscriber_id)
    if not typed or key_of(typed) != person.email_key:
        return _person(request, staffer, subscriber_id, status=400,
                       problem="To erase, type the address exactly as shown.")  # fmt: skip
    with session_scope(web.engine) as session:
        store.erase(session, person.email)
    counts_of(request).forget()
    staffer.log(web.engine, "subscriber_erase", subject(subscriber_id), "suppression kept")
    return RedirectResponse(f"{PATH}?done=erased", status_code=303)


@router.get(PATH + "/add")
def add_form(request: Request, staffer: ManagesList) -> Response:
    form = {"email": "", "name": "", "confirmed": False, "source": "", "override": False}
    return render(request, staffer, "subscriber_add.html", title="Add a subscriber", form=form,
                  problem="", erased=False)  # fmt: skip


@router.post(PATH + "/add")
async def add(request: Request, staffer: ManagesList) -> Response:
    web = web_state(request)
    form = {
        "email": await _field(request, "email", 320),
        "name": await _field(request, "name", store.NAME_MAX),
        "confirmed": await _field(request, "confirmed") == "yes",
        "source": await _field(request, "source"),
        "override": await _field(request, "override_erasure") == "yes",
    }
    erased = False
    try:
        address = store.normalise_email(
            str(form["email"]), check_deliverability=web.settings.email_check_deliverability
        )
        if (form["confirmed"] or form["override"]) and not form["source"]:
            raise InvalidAddress(
                "A confirmed address, or one erased before, needs the consent source: where and "
                "how the person agreed."
            )
        with Session(web.engine) as session:
            erased = store.suppressed(session, address)
        source = f"added by staff: dashboard{'; ' + str(form['source']) if form['source'] else ''}"
        consent = store.ConsentInfo(source=source)
        override = bool(form["override"])
        if form["confirmed"]:
            with session_scope(web.engine) as session:
                added = store.add(session, address, str(form["name"]), confirmed=True,
                                  consent=consent, override_erasure=override)  # fmt: skip
        else:
            added, asked = add_pending(web.engine, address, str(form["name"]), consent,
                                       queue.ask, override_erasure=override)  # fmt: skip
            web.queued(asked)
    except NewsletterError as exc:
        problem = str(exc)
        if "--override-erasure" in problem:
            problem = (f"{form['email']} was erased and is suppressed. Add it again only if the "
                       "person has asked to come back: tick the box below and say where and how "
                       "they agreed.")  # fmt: skip
        return render(request, staffer, "subscriber_add.html", status=400, erased=erased,
                      title="Add a subscriber", form=form, problem=problem)  # fmt: skip
    state = "confirmed" if form["confirmed"] else "pending"
    counts_of(request).forget()
    if form["override"] and erased:
        state += ", over an erasure"
    staffer.log(web.engine, "subscriber_add", subject(added.id), state)
    return _back(added.id or 0, "added" if form["confirmed"] else "added_pending")
