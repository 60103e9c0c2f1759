"""The content store and the Markdown source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from newsletter.config import Settings
from newsletter.content.html import sanitize, strip_shortcodes, summarize, well_formed
from newsletter.errors import ContentError
from newsletter.issues.build import sync_markdown
from newsletter.models import Post
from tests.conftest import run_cli


def _count(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Post)).one()


def test_sample_content_syncs_and_resync_changes_nothing(synced, settings):
    assert _count(synced) == 10
    again = sync_markdown(settings, synced)
    assert (len(again.created), len(again.updated), len(again.unchanged)) == (0, 0, 10)
    assert _count(synced) == 10


def test_edited_post_is_updated_not_duplicated(synced, settings, project):
    path = project / "content" / "annual-report-2015.md"
    path.write_text(
        path.read_text().replace('title: "MPAT 2015 Annual Report"', 'title: "Annual Report 2015"')
    )
    result = sync_markdown(settings, synced)
    assert result.updated == ["annual-report-2015"]
    assert _count(synced) == 10
    with Session(synced) as session:
        post = session.exec(select(Post).where(Post.slug == "annual-report-2015")).one()
    assert post.title == "Annual Report 2015"


def test_removed_post_is_kept_unless_pruned(synced, settings, project):
    (project / "content" / "results-at-a-glance.md").unlink()
    assert sync_markdown(settings, synced).pruned == []
    assert _count(synced) == 10
    assert sync_markdown(settings, synced, prune=True).pruned == ["results-at-a-glance"]
    assert _count(synced) == 9


def test_published_at_is_timezone_aware_utc(synced):
    with Session(synced) as session:
        post = session.exec(
            select(Post).where(Post.slug == "commit-workshop-victim-identification")
        ).one()
    assert post.published_at.utcoffset() is not None
    assert post.published_at.isoformat() == "2016-10-27T03:00:00+00:00"  # 10:00 in Bangkok


def test_markdown_body_is_sanitized_and_absolute(project, settings, synced):
    (project / "content" / "hostile.md").write_text(
        "---\ntitle: Hostile\ndate: 2016-08-01\nurl: https://mpat.example.org/2016/08/hostile/\n---\n"
        'Hello <script>alert(1)</script><b onclick="steal()">bold</b> '
        '[rel](../other/) [js](javascript:alert(1)) <img src="img/x.png" alt="x">\n'
    )
    sync_markdown(settings, synced)
    with Session(synced) as session:
        post = session.exec(select(Post).where(Post.slug == "hostile")).one()
    assert "<script" not in post.html and "alert(1)</" not in post.html
    assert "onclick" not in post.html and 'href="javascript:' not in post.html
    assert 'href="https://mpat.example.org/2016/08/other/"' in post.html
    assert 'src="https://mpat.example.org/2016/08/hostile/img/x.png"' in post.html
    assert post.summary.startswith("Hello")


def test_sanitize_keeps_non_latin_scripts_and_entities():
    html = sanitize("<p>การค้ามนุษย์ &amp; ការជួញដូរមនុស្ស — 人口贩运</p>")
    assert html == "<p>การค้ามนุษย์ &amp; ការជួញដូរមនុស្ស — 人口贩运</p>"


def test_well_formed_closes_and_escapes():
    assert well_formed("<p>a < b <b>bold</div>") == "<p>a &lt; b <b>bold</b></p>"


def test_summary_cut_at_word_boundary_without_read_more():
    text = summarize("<p>" + "word " * 100 + "</p>", 40)
    assert len(text) <= 40 and text.endswith("…") and "word wo…" not in text


@pytest.mark.parametrize(
    ("front_matter", "line", "field"),
    [
        ("title: Bad\ndate: 2016-08-01\nurl: https://x.org/\ncategorys: [a]\n", 5, "categorys"),
        ("title: Bad\ndate: not a date\nurl: https://x.org/\n", 3, "date"),
        ("title: Bad\ndate: 2016-08-01\nurl: /relative/\n", 4, "url"),
        ("title: [unclosed\ndate: 2016-08-01\n", None, None),
    ],
)
def test_malformed_front_matter_names_file_line_and_field(
    project, settings, synced, front_matter, line, field
):
    path = project / "content" / "broken.md"
    path.write_text(f"---\n{front_matter}---\nbody\n")
    with pytest.raises(ContentError) as caught:
        sync_markdown(settings, synced)
    error = caught.value
    assert error.path.name == "broken.md"
    if line:
        assert error.line == line
        assert error.field == field
    else:
        assert error.line is not None  # YAML parser's own position
    assert _count(synced) == 10  # nothing half-synced


def test_content_list_filters(synced):
    code, out, _ = run_cli(
        "content",
        "list",
        "--since",
        "2016-07-01",
        "--until",
        "2016-10-01",
        "--category",
        "blog",
        "--format",
        "json",
    )
    assert code == 0
    slugs = [row["slug"] for row in json.loads(out)]
    assert slugs == ["thai-criminal-law-trafficking-blog", "global-effort-against-trafficking-blog"]


def test_content_sync_command(project: Path, settings: Settings):
    code, out, _ = run_cli("content", "sync")
    assert code == 0 and "10 new" in out
    code, out, _ = run_cli("content", "sync")
    assert "10 unchanged" in out


def test_shortcodes_go_captions_keep_their_image_and_prose_brackets_stay():
    html = sanitize(
        strip_shortcodes(
            '<p>[caption id="attachment_9" align="alignnone" width="300"]<img src="a.jpg" '
            'alt="A"> Delegates[/caption]</p><p>[gallery ids="1,2,3"]</p>'
            "<p>[embed]https://www.youtube.com/watch?v=x[/embed]</p>"
            '<p>[contact-form-7 id="5" title="Contact"]</p><p>[vc_row][vc_column]Text'
            "[/vc_column][/vc_row]</p><p>He said [sic] and cited [1].</p>"
        ),
        base_url="https://mpat.example.org/2016/10/post/",
    )
    assert html == (
        '<p><img src="https://mpat.example.org/2016/10/post/a.jpg" alt="A"> Delegates</p>'
        "<p>He said [sic] and cited [1].</p>"
    )


@pytest.mark.parametrize(
    ("excerpt", "summary"),
    [
        ("<p>Delegates met in Bangkok [&hellip;]</p>", "Delegates met in Bangkok…"),
        ("<p>Delegates met in Bangkok […]</p>", "Delegates met in Bangkok…"),
        ("<p>Delegates met in Bangkok [...]</p>", "Delegates met in Bangkok…"),
        ("<p>Delegates met. Read More</p>", "Delegates met."),
        ("<p>Delegates met. Continue reading →</p>", "Delegates met."),
        (
            '<p>Delegates met … <a href="/x">Continue reading<span> "Workshop"</span></a></p>',
            "Delegates met …",
        ),
        ('<p>We need more. <a href="/x">More »</a></p>', "We need more."),
        ("<p>We need more</p>", "We need more"),
        ("<p>ការប្រជុំ &amp; 会议 [&hellip;]</p>", "ការប្រជុំ & 会议…"),
    ],
)
def test_summary_drops_read_more_tails(excerpt, summary):
    assert summarize(sanitize(excerpt), 280) == summary


def test_sanitize_drops_empty_paragraphs_and_keeps_every_script():
    html = sanitize(
        "<p>&nbsp;</p><p></p><p> <br /> </p><p>Tiếng Việt ພາສາລາວ မြန်မာဘာသာ &lt;3 &amp; co</p>"
    )
    assert html == "<p>Tiếng Việt ພາສາລາວ မြန်မာဘာသာ &lt;3 &amp; co</p>"
