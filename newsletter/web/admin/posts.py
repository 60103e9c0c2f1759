"""``/admin/posts``: the content store as a table (title, date, source, categories, the issues
each post appears in), searched by title or slug and filtered by quarter, category, tag and
source, a page at a time by keyset ("Newer" and "Older" links, never OFFSET); a plain GET
form, so it works without JavaScript.

``/admin/posts/{slug}``: one post's data, the issues it appears in, and its cleaned HTML in a
sandboxed frame served from its own route with its own policy (as the editor's preview).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, select

from newsletter.content import listing
from newsletter.content.authoring import markdown_sources
from newsletter.content.listing import Cursor, Filters
from newsletter.issues.appearances import appearances
from newsletter.models import Post
from newsletter.staff.roles import Permission
from newsletter.web.admin.auth import Reader
from newsletter.web.admin.preview import FRAME_HEADERS
from newsletter.web.admin.render import render, when
from newsletter.web.deps import web_state

router = APIRouter()
PATH = "/admin/posts"
PAGE = 50
FILTERS = ("query", "quarter", "category", "tag", "source")
FRAME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:Georgia,serif;max-width:40rem;margin:1rem auto;padding:0 1rem;
line-height:1.5}}img{{max-width:100%;height:auto}}</style></head><body>{html}</body></html>"""


def _text(request: Request, name: str, limit: int = 200) -> str:
    return request.query_params.get(name, "").strip()[:limit]


def find_post(request: Request, slug: str) -> Post:
    web = web_state(request)
    with Session(web.engine) as session:
        post = session.exec(select(Post).where(Post.slug == slug[:200])).first()
    if post is None:
        raise HTTPException(404, "No such post.")
    return post


@router.get(PATH)
def posts_page(request: Request, staffer: Reader) -> Response:
    web = web_state(request)
    filters = Filters(**{name: _text(request, name) for name in FILTERS})
    after = Cursor.parse(_text(request, "after"))
    before = Cursor.parse(_text(request, "before")) if after is None else None
    found = listing.page(
        web.engine, filters, web.settings.zone, after=after, before=before, size=PAGE
    )
    kept = filters.active()
    older = f"{PATH}?{urlencode({**kept, 'after': found.older.text()})}" if found.older else ""
    newer = f"{PATH}?{urlencode({**kept, 'before': found.newer.text()})}" if found.newer else ""
    return render(
        request,
        staffer,
        "posts.html",
        title="Posts",
        posts=found.posts,
        matching=found.matching,
        total=found.total,
        filters=filters,
        choices=listing.choices(web.engine, web.settings.zone),
        appears=appearances(web.settings, web.engine),
        older=older,
        newer=newer,
        first=f"{PATH}?{urlencode(kept)}" if (after or before) else "",
        when=lambda at: when(at, web.settings.timezone),
        can_write=staffer.can(Permission.edit) and bool(markdown_sources(web.settings)),
    )


@router.get(PATH + "/{slug}")
def post_page(request: Request, staffer: Reader, slug: str) -> Response:
    web = web_state(request)
    post = find_post(request, slug)
    editable = post.source in {s.name for s in markdown_sources(web.settings)}
    return render(
        request,
        staffer,
        "post.html",
        title=post.title,
        post=post,
        issues=appearances(web.settings, web.engine).get(post.slug, []),
        when=lambda at: when(at, web.settings.timezone),
        can_edit=editable and staffer.can(Permission.edit),
        editable=editable,
    )


def frame_page(title: str, html: str) -> str:
    """Post HTML (sanitized when stored or previewed) as a page for the sandboxed frame."""
    return FRAME.format(title=escape(title), html=html)


def framed(page: str) -> HTMLResponse:
    """A frame page with the frame's own policy: no script, framed by our pages only."""
    return HTMLResponse(page, headers=FRAME_HEADERS)


@router.get(PATH + "/{slug}/frame.html")
def post_frame(request: Request, staffer: Reader, slug: str) -> Response:
    post = find_post(request, slug)
    return framed(frame_page(post.title, post.html))
