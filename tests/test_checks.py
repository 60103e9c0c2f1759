"""Pre-send checks: each problem is found, at the right level; the sample issues pass."""

from __future__ import annotations

from dataclasses import replace

import pytest

from newsletter.issues.build import build_issue
from newsletter.issues.checks import CLIP_BYTES, check_compiled
from tests.conftest import run_cli

ADDRESS = "MPAT Regional Office, 3rd floor, 12 Sukhumvit Road, Bangkok 10110, Thailand"


@pytest.fixture
def compiled(synced, settings):
    return build_issue(settings, synced, "2016-q3").compiled


def _codes(compiled, address=ADDRESS) -> set[tuple[str, str]]:
    return {(f.level, f.code) for f in check_compiled(compiled, postal_address=address)}


def test_sample_issues_have_no_errors_or_warnings(compiled, synced, settings):
    assert _codes(compiled) == set()
    assert _codes(build_issue(settings, synced, "2016-q4").compiled) == set()


def test_size_warns_near_and_fails_over_gmail_clip(compiled):
    def padded(total: int):
        return replace(
            compiled,
            html=compiled.html.replace(
                "</body>", "<!--" + "x" * (total - compiled.size) + "--></body>"
            ),
        )

    assert ("warning", "size") in _codes(padded(95 * 1024))
    assert ("error", "size") in _codes(padded(CLIP_BYTES + 1))


@pytest.mark.parametrize(
    ("old", "new", "finding"),
    [
        (
            'href="https://mpat.example.org/2016/08/results-at-a-glance/"',
            'href="/2016/08/results/"',
            ("error", "link"),
        ),
        (
            'href="https://mpat.example.org/2016/08/results-at-a-glance/"',
            'href="#"',
            ("error", "link"),
        ),
        ('src="https://mpat.example.org/', 'src="/', ("error", "image-src")),
        ('alt="Cover of the MPAT 2015 Annual Report"', "", ("error", "image-alt")),
        ('alt="Cover of the MPAT 2015 Annual Report"', 'alt=""', ("error", "image-alt")),
        ('alt="Cover of the MPAT 2015 Annual Report"', 'alt="  "', ("error", "image-alt")),
        ('src="https://mpat.example.org/', 'src="http://mpat.example.org/', ("error", "image-src")),
        (
            'href="%%unsubscribe_url%%"',
            'href="https://mpat.example.org/"',
            ("error", "unsubscribe"),
        ),
        ("Sukhumvit", "Silom", ("error", "postal-address")),
        ("Dear friends", "Dear %%first_name%%", ("error", "placeholder")),
        ("Dear friends", "Dear {{ name }}", ("error", "template-syntax")),
    ],
)
def test_html_problems(compiled, old, new, finding):
    assert old in compiled.html
    assert finding in _codes(replace(compiled, html=compiled.html.replace(old, new)))


def test_text_part_problems(compiled):
    assert ("error", "text") in _codes(replace(compiled, text=""))
    assert ("error", "unsubscribe") in _codes(
        replace(compiled, text=compiled.text.replace("%%unsubscribe_url%%", ""))
    )
    assert ("error", "postal-address") in _codes(
        replace(compiled, text=compiled.text.replace("Sukhumvit", ""))
    )
    assert ("error", "template-syntax") in _codes(
        replace(compiled, text=compiled.text + "{% endif %}")
    )


def test_envelope_and_sections(compiled):
    assert ("warning", "subject") in _codes(replace(compiled, subject="x" * 81))
    assert ("warning", "preheader") in _codes(replace(compiled, preheader=" "))
    assert ("warning", "empty-section") in _codes(replace(compiled, empty_sections=("Events",)))
    assert ("error", "empty-issue") in _codes(replace(compiled, post_count=0))
    assert ("error", "postal-address") in _codes(compiled, address="")


def test_check_command_exit_codes(project, synced):
    code, out, err = run_cli("check", "2016-q3")
    assert code == 0 and "0 errors, 0 warnings" in out
    (project / "newsletter.toml").write_text(
        (project / "newsletter.toml").read_text().replace("postal_address =", "# postal_address =")
    )
    code, out, err = run_cli("check", "2016-q3")
    assert code == 1
    assert "postal_address setting is empty" in err and "1 errors" in out


def test_empty_section_is_left_out_with_a_warning(project, synced):
    path = project / "issues" / "2016-q3.toml"
    path.write_text(
        path.read_text() + '\n[[sections]]\ntitle = "Podcasts"\ntags = ["forced-marriage"]\n'
    )  # a tag of the store, on no post of the third quarter (one unknown anywhere is an error)
    code, _, err = run_cli("build", "2016-q3")
    assert code == 0
    assert "section 'Podcasts' selects no posts" in err
    assert "Podcasts" not in (project / "build" / "2016-q3" / "index.html").read_text()
