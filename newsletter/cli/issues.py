"""``newsletter build``, ``check`` and ``preview``: compile an issue, check it, look at it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.console import (
    one_shot,
    open_engine,
    open_posts,
    out,
    report_findings,
    reports_errors,
    shown,
    visible,
)

issues_app = typer.Typer()


@issues_app.command()
@reports_errors
def build(
    issue: Annotated[str, typer.Argument(help="Issue slug (2016-q3) or path to its .toml file.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default build_dir/<slug>).")
    ] = None,
) -> None:
    """Compile an issue to index.html, index.txt and index.mjml, and run the checks."""
    one_shot()
    from newsletter.config import get_settings
    from newsletter.issues.build import build_issue, write_build
    from newsletter.issues.checks import has_errors

    settings = get_settings()
    result = build_issue(settings, open_posts(settings), issue)
    target = out_dir or settings.build_dir / result.issue.slug
    files = write_build(result, target)
    compiled = result.compiled
    out.line(f"built {visible(result.issue.slug)}: {compiled.post_count} posts")
    for kind, path in files.items():
        out.line(f"  {kind:5} {visible(path)}  ({path.stat().st_size / 1024:.1f} KB)")
    report_findings(result)
    if has_errors(result.findings):
        raise typer.Exit(1)


@issues_app.command()
@reports_errors
def check(
    issue: Annotated[str, typer.Argument(help="Issue slug or path to its .toml file.")],
) -> None:
    """Run the pre-send checks; exit 1 when any is an error."""
    one_shot()
    from newsletter.config import get_settings
    from newsletter.issues.build import build_issue

    settings = get_settings()
    result = build_issue(settings, open_posts(settings), issue)
    report_findings(result)
    errors = sum(f.level == "error" for f in result.findings)
    warnings = len(result.findings) - errors
    out.line(f"{visible(result.issue.slug)}: {errors} errors, {warnings} warnings")
    if errors:
        raise typer.Exit(1)


@issues_app.command()
@reports_errors
def preview(
    issue: Annotated[str, typer.Argument(help="Issue slug or path to its .toml file.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8025,
    png: Annotated[
        Path | None, typer.Option(help="Write 600 and 375 px screenshots here and exit.")
    ] = None,
) -> None:
    """Serve the issue on localhost, rebuilding on every change; or write PNG screenshots."""
    from newsletter.config import get_settings
    from newsletter.issues import preview as previewing  # playwright and watchfiles: only here
    from newsletter.issues.build import build_issue

    settings = get_settings()
    engine = open_engine(settings)
    if png is not None:
        result = build_issue(settings, engine, issue)
        for path in previewing.screenshots(
            result.compiled.html, png, result.issue.slug, chromium=settings.chromium_path
        ):
            out.print(f"wrote {shown(path)}")
        return
    previewing.serve(
        settings, engine, issue, host=host, port=port, echo=lambda line: out.print(shown(line))
    )
