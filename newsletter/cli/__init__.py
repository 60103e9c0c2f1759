"""The ``newsletter`` command: one Typer sub-app per file, each command calling the core.

``main`` is the console script. The sub-apps import the shared helpers from ``console``; none
imports this module back.

Startup: importing the app must stay cheap, because ``newsletter --help`` and every command pay
for it. Each sub-app imports only Typer, the standard library and ``console`` at the top; a
command imports what it uses inside its function (docs/architecture.md, "Startup";
tests/test_cli_startup.py). The help is Click's plain text (``rich_markup_mode=None``): Typer's
Rich help would import Rich and markdown-it for every ``--help``.
"""

from __future__ import annotations

import typer

from newsletter.cli.console import Group
from newsletter.cli.content import content_app
from newsletter.cli.db import db_app
from newsletter.cli.issues import issues_app
from newsletter.cli.reports import reports_app
from newsletter.cli.sending import sending_app
from newsletter.cli.staff import staff_app
from newsletter.cli.subscribers import subscribers_app
from newsletter.cli.web import web_app
from newsletter.cli.worker import jobs_app, worker_app

app = typer.Typer(
    help="Compile quarterly email newsletters and send them to a double opt-in list.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=Group,
)
# Unnamed sub-apps add their commands at the top level, in this order (as --help lists them).
app.add_typer(issues_app)
app.add_typer(web_app)
app.add_typer(sending_app)
app.add_typer(reports_app)
app.add_typer(db_app, name="db")
app.add_typer(content_app, name="content")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(staff_app, name="staff")
app.add_typer(worker_app)
app.add_typer(jobs_app, name="jobs")


def main() -> None:
    app()
