"""Markdown posts written in the browser: the same front-matter file the CLI reads, checked with
its messages before anything is written, written whole, synced at once, then pinnable."""

from __future__ import annotations

import re
import tomllib

import pytest
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.content.markdown import read_post
from newsletter.models import Post, Role
from tests.admin.editor_kit import form_data, unscheduled
from tests.conftest import run_cli

FIELDS = {
    "title": "Ministers sign: a new regional plan",
    "slug": "",
    "date": "2016-11-20",
    "url": "https://mpat.example.org/2016/11/regional-plan/",
    "categories": "updates, events",
    "tags": "commit",
    "summary": "",
    "image": "",
    "image_alt": "",
    "body": "The six **COMMIT** ministers signed the plan.\n\n<script>alert(1)</script>",
}


def test_create_writes_the_file_syncs_it_and_it_can_be_pinned(
    as_role, admin_settings, admin_engine
):
    editor = as_role(Role.editor)
    assert editor.get("/admin/posts/new").status_code == 200
    answer = editor.post("/admin/posts/new", {**FIELDS, "action": "save"})
    assert answer.status_code == 303
    slug = "ministers-sign-a-new-regional-plan"
    assert answer.headers["location"] == f"/admin/posts/{slug}"
    path = admin_settings.content_dir / f"{slug}.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\ntitle: 'Ministers sign: a new regional plan'\n")
    post = read_post(path, zone=admin_settings.zone, summary_length=admin_settings.summary_length)
    assert post.categories == ("updates", "events") and "<script" not in post.html
    with Session(admin_engine) as session:  # in the store at once
        stored = session.exec(select(Post).where(Post.slug == slug)).one()
        assert stored.source == "markdown" and "<strong>COMMIT</strong>" in stored.html
    code, _, _ = run_cli("content", "sync")  # the CLI reads it as it is, nothing to change
    assert code == 0
    page = editor.get(f"/admin/posts/{slug}").text
    assert "No issue selects this post." not in page  # updates/events in Q4: chosen already
    # pin it in the Q3 issue through the editor's own form
    issue = unscheduled(admin_settings, "2016-q3")
    fields = form_data(issue.read_text(encoding="utf-8"))
    shown = editor.post(
        "/admin/issues/2016-q3",
        {**fields, "action": "search:2", "sections[2].search": "regional plan"},
    )
    assert f'value="pin:2:{slug}"' in shown.text
    pinned = editor.post("/admin/issues/2016-q3", {**fields, "action": f"pin:2:{slug}"})
    assert f'name="sections[2].pin" value="{slug}"' in pinned.text
    fields["sections[2].pin"] = slug
    assert editor.post("/admin/issues/2016-q3", {**fields, "action": "save"}).status_code == 303
    assert tomllib.loads(issue.read_text(encoding="utf-8"))["sections"][2]["pin"] == [slug]
    page = editor.get(f"/admin/posts/{slug}").text
    assert 'href="/admin/issues/2016-q3"' in page


def test_a_bad_post_is_refused_with_the_clis_messages_and_nothing_is_written(
    as_role, admin_settings: Settings
):
    editor = as_role(Role.editor)
    bad = {**FIELDS, "slug": "bad-one", "date": "next tuesday", "url": "not a url"}
    answer = editor.post("/admin/posts/new", {**bad, "action": "save"})
    assert answer.status_code == 422
    path = admin_settings.content_dir / "bad-one.md"
    assert not path.exists()
    text = " ".join(answer.text.split()).replace("&#39;", "'")
    assert f"{path}:3: date: 'next tuesday' is not a date: write 2016-10-27" in text
    assert f"{path}:4: url:" in text
    # the CLI says the same of the same file
    path.write_text(
        "---\ntitle: x\ndate: next tuesday\nurl: not a url\n---\nbody\n", encoding="utf-8"
    )
    _, _, err = run_cli("content", "sync")
    assert f"{path}:3: date: 'next tuesday' is not a date" in " ".join(err.split())


def test_a_taken_slug_is_refused(as_role, admin_settings):
    editor = as_role(Role.editor)
    answer = editor.post(
        "/admin/posts/new", {**FIELDS, "slug": "annual-report-2015", "action": "save"}
    )
    assert answer.status_code == 422 and "exists already" in answer.text
    assert (
        "MPAT 2015 Annual Report"
        in (admin_settings.content_dir / "annual-report-2015.md").read_text()
    )


def test_edit_keeps_other_keys_and_refuses_a_changed_file(as_role, admin_settings, admin_engine):
    editor = as_role(Role.editor)
    slug = "annual-report-2015"
    page = editor.get(f"/admin/posts/{slug}/edit").text
    base_hash = re.search(r'name="base_hash" value="([0-9a-f]{64})"', page)
    assert base_hash and 'value="research, updates"' in page
    title = re.search(r'id="title" name="title" type="text" value="([^"]*)"', page)
    assert title and title.group(1) == "MPAT 2015 Annual Report"
    fields = {
        name: re.search(rf'id="{name}" name="{name}" type="[a-z]+" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
        for name in ("title", "date", "url", "categories", "tags", "image", "image_alt")
    }
    body = re.search(r'<textarea id="body" name="body" rows="16">(.*?)</textarea>', page, re.S)
    assert body
    form = {
        **fields,
        "summary": "A shorter summary.",
        "body": body.group(1),
        "base_hash": base_hash.group(1),
    }
    form = {
        k: v.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"')
        for k, v in form.items()
    }
    preview = editor.post(f"/admin/posts/{slug}/edit", {**form, "action": "preview"})
    frame = editor.get(re.search(r'src="(/admin/posts/preview/[^"]+)"', preview.text).group(1))  # type: ignore[union-attr]
    assert (
        frame.status_code == 200
        and "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    )
    assert "2015" in frame.text
    saved = editor.post(f"/admin/posts/{slug}/edit", {**form, "action": "save"})
    assert saved.status_code == 303
    text = (admin_settings.content_dir / f"{slug}.md").read_text(encoding="utf-8")
    assert "author: MPAT Secretariat" in text and "summary: A shorter summary." in text
    with Session(admin_engine) as session:
        assert (
            session.exec(select(Post.summary).where(Post.slug == slug)).one()
            == "A shorter summary."
        )
    again = editor.post(f"/admin/posts/{slug}/edit", {**form, "action": "save"})  # the old hash
    assert again.status_code == 422 and "changed since you opened it" in again.text


def test_the_preview_frame_is_the_editors_own(as_role):
    editor, other = as_role(Role.editor), as_role(Role.admin)
    page = editor.post("/admin/posts/new", {**FIELDS, "action": "preview"})
    assert page.status_code == 200
    found = re.search(r'<iframe class="post-frame" sandbox="([^"]*)" src="([^"]+)"', page.text)
    assert found and "allow-scripts" not in found.group(1)
    src = found.group(2)
    assert editor.get(src).status_code == 200
    assert (
        "<strong>COMMIT</strong>" in editor.get(src).text and "<script" not in editor.get(src).text
    )
    assert other.get(src).status_code == 404


@pytest.mark.parametrize("role", [Role.viewer])
def test_only_editors_write(as_role, role):
    client = as_role(role)
    assert client.get("/admin/posts/new").status_code == 403
    assert client.post("/admin/posts/new", {**FIELDS, "action": "save"}).status_code == 403


def test_posts_of_other_sources_are_read_only(as_role, admin_engine):
    from datetime import UTC, datetime

    from newsletter.models import utcnow

    with Session(admin_engine) as session:
        moment = datetime(2016, 8, 1, tzinfo=UTC)
        session.add(
            Post(
                slug="from-wp",
                title="From WordPress",
                url="https://x.org/wp",
                published_at=moment,
                updated_at=moment,
                html="",
                source="site",
                source_id="1",
                content_hash="h",
                synced_at=utcnow(),
            )
        )
        session.commit()
    editor = as_role(Role.editor)
    assert "Edit this post" not in editor.get("/admin/posts/from-wp").text
    assert editor.get("/admin/posts/from-wp/edit").status_code == 404
