"""Markdown text to HTML: the one parser (CommonMark with tables) for post files, an issue
file's own text and the dashboard's post writer. The caller sanitizes.

Apart from ``content.markdown`` (post files: front matter, its validation model) so that a
build, which renders an issue's Markdown but reads no post file, does not build that model.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": True, "typographer": False}).enable("table")


def render_markdown(text: str) -> str:
    """Markdown to HTML (CommonMark + tables); the caller sanitizes."""
    return str(_MARKDOWN.render(text))
