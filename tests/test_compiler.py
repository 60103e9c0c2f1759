"""The compile pipeline, and each measured fault of mjml-python and premailer it works around.

Every "fact" test first shows the library's own behaviour, then that our pipeline handles it.
"""

from __future__ import annotations

import http.server
import logging
import re
import threading
from pathlib import Path

import pytest
from mjml import mjml2html
from premailer import Premailer

from newsletter.content.html import sanitize, well_formed
from newsletter.errors import CompileError
from newsletter.issues import placeholders
from newsletter.issues.build import build_issue
from newsletter.issues.checks import check_compiled
from newsletter.issues.compiler import (
    compile_issue,
    inline_css,
    make_environment,
    mjml_to_html,
    render_mjml,
)
from newsletter.issues.file import load_issue
from newsletter.sending.ledger import Content
from newsletter.sending.sender import content_of
from newsletter.transports.base import substitute


def _page(body: str, head: str = "") -> str:
    return f"<mjml><mj-head>{head}</mj-head><mj-body><mj-section><mj-column>{body}</mj-column></mj-section></mj-body></mjml>"


# mjml-python (MRML) -------------------------------------------------------------------------


def test_mrml_writes_a_newline_in_an_attribute_literally_and_we_collapse_it():
    source = _page('<mj-text><p style="color: red;\n  font-size: 20px">x</p></mj-text>')
    raw = mjml2html(source)
    assert "red;\\n" in raw  # the fact: a literal backslash-n, the declaration after it lost
    ours = mjml_to_html(source)
    assert 'style="color: red; font-size: 20px"' in ours
    assert "\\n" not in ours


def test_mrml_does_not_apply_inline_mj_style_but_premailer_does():
    source = _page(
        '<mj-text><p class="lead">x</p></mj-text>',
        head='<mj-style inline="inline">.lead { color: #123456; }</mj-style>',
    )
    html = mjml_to_html(source)
    assert '<p class="lead">' in html  # the fact: left in a <style>, not inlined
    assert re.search(r'<p class="lead" style="[^"]*color:#123456', inline_css(html))


def test_mrml_gives_an_image_without_alt_no_alt_and_the_checks_catch_it(synced, settings, project):
    assert "alt=" not in mjml2html(_page('<mj-image src="https://x.org/a.png" />'))
    partial = project / "templates" / "partials" / "post.mjml.j2"
    partial.write_text(partial.read_text().replace(' alt="{{ post.image_alt }}"', ""))
    findings = build_issue(settings, synced, "2016-q3").findings
    assert any(f.code == "image-alt" and f.level == "error" for f in findings)


@pytest.mark.parametrize(
    "bad",
    ["<p>unclosed <b>bold</p>", "<p>a < b</p>", "<p>x</p></div>", "<p>open paragraph"],
)
def test_mrml_rejects_html_that_is_not_well_formed_so_post_html_is_reserialised(bad):
    with pytest.raises(ValueError):
        mjml2html(_page(f"<mj-text>{bad}</mj-text>"))
    for fixed in (well_formed(bad), sanitize(bad)):
        assert "<mj" not in fixed
        mjml2html(_page(f"<mj-text>{fixed}</mj-text>"))  # accepted


# premailer ----------------------------------------------------------------------------------


@pytest.fixture
def sample_html(synced, settings) -> str:
    """The sample issue after MJML, before inlining."""
    return build_issue(settings, synced, "2016-q3").compiled.html


def _mjml_output() -> str:
    return mjml_to_html(
        _page(
            '<mj-text><a href="%%unsubscribe_url%%">Unsubscribe</a> <a href="{{ u }}">x</a></mj-text>'
        )
    )


def test_premailer_drops_the_lower_case_doctype_and_we_put_it_back():
    html = _mjml_output()
    assert html.startswith("<!doctype html>")
    default = Premailer(html, allow_network=False).transform()
    assert "doctype" not in default.lower()  # the fact
    assert inline_css(html).startswith("<!doctype html>")


_MEDIA = re.compile(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}")


def test_media_rules_keep_important():
    html = _mjml_output()
    assert all("!important" in rule for rule in _MEDIA.findall(html))
    default = Premailer(html, allow_network=False, keep_style_tags=True).transform()
    rules = _MEDIA.findall(default)
    assert rules and not any("!important" in rule for rule in rules)  # the fact
    rules = _MEDIA.findall(inline_css(html))
    assert rules and all("!important" in rule for rule in rules)


def test_premailer_leaves_our_placeholder_alone_but_encodes_curly_merge_tags():
    ours = inline_css(_mjml_output())
    assert 'href="%%unsubscribe_url%%"' in ours
    assert 'href="{{%20u%20}}"' in ours  # the fact, and why placeholders are %%name%%


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        body = b"p { color: red; }"
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_no_network_request_for_link_stylesheets():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/style.css"
        html = _mjml_output().replace("</head>", f'<link rel="stylesheet" href="{url}"></head>')
        Premailer(html).transform()
        assert _CountingHandler.hits == 1  # the fact: the default downloads it
        inline_css(html)
        assert _CountingHandler.hits == 1  # ours does not
    finally:
        server.shutdown()
        server.server_close()


def test_no_log_lines_for_vendor_properties(caplog, sample_html):
    assert "mso-table-lspace" in sample_html
    caplog.set_level(logging.DEBUG)
    Premailer(sample_html, allow_network=False, cssutils_logging_level=logging.WARNING).transform()
    assert any("Unknown Property" in r.getMessage() for r in caplog.records)  # the fact
    caplog.clear()
    inline_css(sample_html)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# Jinja --------------------------------------------------------------------------------------


def test_undefined_variable_fails_with_template_and_line(project, settings, synced):
    partial = project / "templates" / "partials" / "footer.mjml.j2"
    lines = partial.read_text().splitlines()
    lines[5] = lines[5] + " {{ org.adress }}"
    partial.write_text("\n".join(lines) + "\n")
    with pytest.raises(CompileError) as caught:
        build_issue(settings, synced, "2016-q3")
    error = caught.value
    assert error.path.name == "footer.mjml.j2" and error.line == 6
    assert "adress" in str(error)


def test_template_syntax_error_has_line(tmp_path):
    (tmp_path / "bad.mjml.j2").write_text("<mjml>\n{% if x %}\n</mjml>\n")
    with pytest.raises(CompileError) as caught:
        render_mjml(make_environment(tmp_path), "bad", {"x": 1})
    assert caught.value.line == 3 and "syntax" in str(caught.value)


def test_autoescape_in_templates(tmp_path):
    (tmp_path / "t.mjml.j2").write_text("<p>{{ title }}</p>")
    out = render_mjml(make_environment(tmp_path), "t", {"title": "<script>x</script> & co"})
    assert out == "<p>&lt;script&gt;x&lt;/script&gt; &amp; co</p>"


# Outputs ------------------------------------------------------------------------------------


def test_compiled_sample_has_placeholders_footer_and_clean_text(synced, settings):
    result = build_issue(settings, synced, "2016-q3")
    compiled = result.compiled
    assert compiled.placeholders == ("unsubscribe_url", "view_url")
    assert compiled.html.startswith("<!doctype html>")
    assert 'href="%%unsubscribe_url%%"' in compiled.html
    assert settings.postal_address in compiled.html
    text = compiled.text
    assert "Research\n--------" in text
    assert "Quarterly update: July to September 2016\n=====" in text
    assert (
        "12 MPAT results at a glance\n(https://mpat.example.org/2016/08/results-at-a-glance/)"
        in text
    )
    assert "Unsubscribe (%%unsubscribe_url%%)" in text
    for junk in ("<", ".jpg", "[", "](", "%%view_url%%)\n\n%%"):
        assert junk not in text
    assert [f for f in result.findings if f.level == "error"] == []


def _personalise(content: Content, values: dict[str, str]) -> tuple[str, str, str]:
    """(subject, html, text) for one recipient, the way a send does it: the placeholders the
    stored content uses, filled from ``values``, replaced literally in every part as the outbox
    (and SendGrid) applies a Recipient's substitutions."""
    filled = placeholders.substitutions(
        values, placeholders.used_by_send(content.html, content.text)
    )
    return (
        substitute(content.subject, filled),
        substitute(content.html, filled),
        substitute(content.text, filled),
    )


def test_placeholders_are_filled_and_escaped_per_part(synced, settings):
    compiled = build_issue(settings, synced, "2016-q3").compiled
    content = content_of(compiled)
    values = {
        "email": "ann@example.org",
        "name": "Ann",
        "unsubscribe_url": "https://n.example/u/a&b",
        "view_url": "https://n.example/archive/2016-q3",
    }
    subject, html, text = _personalise(content, values)
    assert 'href="https://n.example/u/a&amp;b"' in html
    assert "a&b" not in html
    assert "Unsubscribe (https://n.example/u/a&b)" in text
    assert "%%" not in subject + html + text
    assert subject == compiled.subject
    with pytest.raises(KeyError):
        _personalise(content, {"view_url": "x"})


def test_a_recipient_value_is_escaped_in_html_and_raw_in_text():
    name = 'Tom & "Jerry" <b>'
    content = Content(
        "s", "Hello", placeholders.with_html_twins('<p title="%%name%%">Hi %%name%%</p>'),
        "Hi %%name%%", "hash",
    )  # fmt: skip
    assert content.html == '<p title="%%name_html%%">Hi %%name_html%%</p>'
    _, html, text = _personalise(content, {"name": name, "email": "x@example.org"})
    escaped = "Tom &amp; &quot;Jerry&quot; &lt;b&gt;"
    assert html == f'<p title="{escaped}">Hi {escaped}</p>'
    assert text == f"Hi {name}"


def test_only_known_placeholders_are_used_and_the_archive_neutralises_both_forms():
    assert placeholders.used("%%name%% %%first_name%%", "%%view_url%%") == ("name", "view_url")
    assert placeholders.unknown("%%name%% %%first_name%% %%confirm_url%%") == [
        "confirm_url",
        "first_name",
    ]
    stored = placeholders.with_html_twins('<a href="%%view_url%%">%%name%%</a>') + "%%email%%"
    public = placeholders.neutralise(stored, {"view_url": "https://n.example/a?x=1&y=2"})
    assert public == '<a href="https://n.example/a?x=1&amp;y=2"></a>'


def test_each_stage_is_timed(synced, settings):
    issue = load_issue(
        "2016-q3",
        issues_dir=settings.issues_dir,
        templates_dir=settings.templates_dir,
        default_zone=settings.timezone,
    )
    from newsletter.content.reading import PostReader
    from newsletter.issues.build import org_context
    from newsletter.issues.selection import select_sections

    with PostReader.of_engine(synced) as posts:
        compiled = compile_issue(
            make_environment(settings.templates_dir),
            issue,
            select_sections(posts, issue),
            org_context(settings),
        )
    assert set(compiled.timings) == {"jinja", "mjml", "inline", "exit", "text"}
    assert check_compiled(compiled, postal_address=settings.postal_address) is not None


def test_build_command_writes_files(project: Path, synced):
    from tests.conftest import run_cli

    code, out, _ = run_cli("build", "2016-q3")
    assert code == 0
    folder = project / "build" / "2016-q3"
    for name in ("index.html", "index.txt", "index.mjml", "issue.json"):
        assert (folder / name).stat().st_size > 0, name
        assert name in out
    assert "KB" in out
    code, _, _ = run_cli("build", "issues/2016-q4.toml", "--out", "elsewhere")
    assert code == 0 and (project / "elsewhere" / "index.html").is_file()
