"""A hostile post and an issue that shows it in full, written into a test project.

The post is a Markdown file, so it goes through the real ``content sync`` (front matter,
markdown-it with raw HTML, nh3); every field a source fills carries placeholder syntax, and the
body carries attribute values with quotes that MJML used to turn into live event handlers.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli

SLUG = "hostile"
SUBJECT = "Hostile issue"
ALT = 'x" onerror="document.title=1;window.pwned=1" y="'
TITLE_ATTR = 't" onmouseover="document.title=2;window.pwned=1" z="'

POST = f"""---
title: "Title %%email%% and %%name_html%%"
date: 2016-08-15T10:00:00+07:00
url: "https://mpat.example.org/2016/08/hostile/?u=%%unsubscribe_url%%"
categories: [hostile, "%%email%%"]
author: "%%name%% %%email_html%%"
summary: "Summary %%unsubscribe_url%% %%view_url%%"
image: "https://mpat.example.org/img.png?e=%%email%%"
image_alt: "alt %%email%%"
---
Body %%email%% and &#37;&#37;unsubscribe_url&#37;&#37; and %<b></b>%view_url%% 100% sure.

<p><img src="https://mpat.example.org/a.png" alt='{ALT}'>
<a href="https://mpat.example.org/%%unsubscribe_url%%" title='{TITLE_ATTR}'>hover me</a></p>
"""

ISSUE = f"""title = "Hostile %%email%%"
subject = "{SUBJECT}"
preheader = "Pre %%unsubscribe_url%%"
quarter = "2016-Q3"
intro = "Intro %%email%%"

[[sections]]
title = "In full %%name%%"
categories = ["hostile"]
display = "full"

[[sections]]
title = "Summaries"
categories = ["hostile-summary"]
"""


def write_hostile(project: Path, *, html_twins: bool = True) -> None:
    """The hostile post (in full) and its twin (as a summary), and ``issues/hostile.toml``.

    ``html_twins=False`` leaves out ``%%name_html%%`` and ``%%email_html%%`` (which the checks
    always refused as unknown), so the issue passes the checks of a version without the fix
    and the test shows the leak itself.
    """
    post = POST if html_twins else POST.replace("_html%%", "%%")
    (project / "content" / "hostile-post.md").write_text(post, encoding="utf-8")
    twin = post.replace("categories: [hostile,", "categories: [hostile-summary,").replace(
        "/hostile/", "/hostile-twin/"
    )
    (project / "content" / "hostile-twin.md").write_text(twin, encoding="utf-8")
    (project / "issues" / f"{SLUG}.toml").write_text(ISSUE, encoding="utf-8")
    code, _, err = run_cli("content", "sync")
    assert code == 0, err
