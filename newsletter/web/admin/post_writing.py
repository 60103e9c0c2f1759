"""Markdown posts written in the browser (``Permission.edit``): ``/admin/posts/new`` and
``/admin/posts/{slug}/edit``. The form becomes the same front-matter file ``newsletter content
sync`` reads, checked by that reader first (its messages, naming the real file), written whole
into the Markdown source's folder (``content_dir`` unless the source names a path), then synced
into the store at once (under the source's claim). Preview renders the body as the source will
(Markdown, then the same cleaning) into a sandboxed frame. Only a Markdown source's posts can be
edited; the others are read-only (they change at their source).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from newsletter.config import MarkdownSourceConfig
from newsletter.content import authoring
from newsletter.content.authoring import PostForm
from newsletter.content.html import sanitize
from newsletter.content.markdown_html import render_markdown
from newsletter.content.sources import SyncRequest, locked_sync
from newsletter.errors import ContentError
from newsletter.web.admin.auth import Editor, Staffer
from newsletter.web.admin.posts import PATH, find_post, frame_page, framed
from newsletter.web.admin.preview import PreviewStore
from newsletter.web.admin.render import render
from newsletter.web.deps import Web, web_state

router = APIRouter()
PREVIEW_SLUG = "post"


def _previews(request: Request) -> PreviewStore:
    state = request.app.state
    if not hasattr(state, "post_previews"):
        state.post_previews = PreviewStore()
    store: PreviewStore = state.post_previews
    return store


def _source(web: Web) -> MarkdownSourceConfig:
    sources = authoring.markdown_sources(web.settings)
    if not sources:
        raise HTTPException(404, "No Markdown source is configured, so posts are not written here.")
    return sources[0]


def _file_of(request: Request, web: Web, slug: str) -> tuple[MarkdownSourceConfig, Path]:
    """The Markdown file of the stored post ``slug``; 404 for any other post."""
    post = find_post(request, slug)
    for source in authoring.markdown_sources(web.settings):
        if source.name == post.source:
            path = authoring.find_file(authoring.folder_of(web.settings, source), slug)
            if path is not None:
                return source, path
    raise HTTPException(404, "This post is not a Markdown post of this site: it cannot be edited.")


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _page(
    request: Request,
    staffer: Staffer,
    form: PostForm,
    *,
    slug: str = "",
    base_hash: str = "",
    errors: list[str] | None = None,
    frame: str = "",
    status: int = 200,
) -> Response:
    editing = bool(base_hash)
    return render(
        request,
        staffer,
        "post_form.html",
        status=status,
        title=f"Edit {form.title}" if editing else "Write a post",
        form=form,
        slug=slug,
        base_hash=base_hash,
        action=f"{PATH}/{slug}/edit" if editing else f"{PATH}/new",
        errors=errors or [],
        frame=frame,
    )


def _preview(request: Request, staffer: Staffer, web: Web, path: Path, form: PostForm) -> str:
    """The body as the source will store it, kept for the frame; '' when it cannot be built."""
    try:
        html = authoring.check(path, authoring.compose(form), web.settings).html
    except ContentError:
        html = sanitize(render_markdown(form.body), base_url=form.url.strip())
    return _previews(request).put(staffer.id, PREVIEW_SLUG, frame_page(form.title, html))


def _saved(staffer: Staffer, web: Web, source: MarkdownSourceConfig, slug: str) -> Response:
    outcome = locked_sync(web.settings, web.engine, source, SyncRequest(), staffer.label)
    detail = outcome.error or "synced"
    staffer.log(web.engine, "post_save", slug, detail)
    return RedirectResponse(f"{PATH}/{slug}", status_code=303)


@router.get(f"{PATH}/new")
def new_post(request: Request, staffer: Editor) -> Response:
    web = web_state(request)
    _source(web)
    return _page(request, staffer, PostForm(date=date.today().isoformat()))


@router.post(f"{PATH}/new")
async def create_post(request: Request, staffer: Editor) -> Response:
    web = web_state(request)
    source = _source(web)
    fields = await _fields(request)
    form, slug = PostForm.of(fields), fields.get("slug", "").strip()[:80]
    folder = authoring.folder_of(web.settings, source)
    if fields.get("action") == "preview":
        target = folder / f"{slug or 'new-post'}.md"
        frame = _preview(request, staffer, web, target, form)
        return _page(request, staffer, form, slug=slug, frame=frame)
    try:
        path = authoring.new_path(folder, form, slug)
        post = authoring.write_post(web.settings, path, form)
    except ContentError as exc:
        return _page(request, staffer, form, slug=slug, errors=exc.lines(), status=422)
    return _saved(staffer, web, source, post.slug)


@router.get(f"{PATH}/{{slug}}/edit")
def edit_post(request: Request, staffer: Editor, slug: str) -> Response:
    web = web_state(request)
    _, path = _file_of(request, web, slug)
    text = path.read_text(encoding="utf-8")
    form = authoring.form_of(text)
    return _page(request, staffer, form, slug=slug, base_hash=authoring.text_hash(text))


@router.post(f"{PATH}/{{slug}}/edit")
async def save_post(request: Request, staffer: Editor, slug: str) -> Response:
    web = web_state(request)
    source, path = _file_of(request, web, slug)
    fields = await _fields(request)
    form, base_hash = PostForm.of(fields), fields.get("base_hash", "")[:64]
    if fields.get("action") == "preview":
        frame = _preview(request, staffer, web, path, form)
        return _page(request, staffer, form, slug=slug, base_hash=base_hash, frame=frame)
    try:
        post = authoring.write_post(web.settings, path, form, base_hash=base_hash)
    except ContentError as exc:
        return _page(
            request, staffer, form, slug=slug, base_hash=base_hash, errors=exc.lines(), status=422
        )
    return _saved(staffer, web, source, post.slug)


@router.get(f"{PATH}/preview/{{key}}.html")
def preview_frame(request: Request, staffer: Editor, key: str) -> Response:
    html = _previews(request).get(staffer.id, PREVIEW_SLUG, key[:64])
    if html is None:
        raise HTTPException(404, "This preview has expired: press Preview again.")
    return framed(html)
