"""The rules of docs/architecture.md, kept true with the standard library's ast."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "newsletter"
COMPILE_SIDE = (
    "content",
    "issues",
    "issue_file",
    "compiler",
    "plaintext",
    "checks",
    "builder",
    "preview",
)
SUBSCRIBER_SIDE = (
    "subscribers", "subscriber_csv", "confirmation", "sending", "ledger", "reporting", "scheduler",
    "events", "tokens", "transports", "web", "retrying",
)  # fmt: skip
LIBRARY_HOMES = {
    "mjml": {"compiler.py"},
    "premailer": {"compiler.py"},
    "typer": {"cli.py", "cli_subscribers.py", "cli_sending.py"},
    "nh3": {"content/html.py"},
    "playwright": {"preview.py"},
    "fastapi": {"web/"},
    "uvicorn": {"web/"},
    "itsdangerous": {"tokens.py"},
    "email_validator": {"subscribers.py"},
    "sendgrid": {"transports/sendgrid.py"},
    "feedparser": {"content/feeds.py"},
    "httpx": {"content/fetch.py"},
}


def _modules() -> dict[str, set[str]]:
    """relative path -> every module name it imports."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def _concept(relative: str) -> str:
    return Path(relative).parts[0].removesuffix(".py")


def test_compile_side_never_imports_subscriber_side():
    for relative, names in _modules().items():
        if _concept(relative) in COMPILE_SIDE:
            for name in names:
                parts = name.split(".")
                assert not (
                    parts[0] == "newsletter" and len(parts) > 1 and parts[1] in SUBSCRIBER_SIDE
                ), f"{relative} imports {name}"


def test_transports_import_neither_side():
    for relative, names in _modules().items():
        if _concept(relative) == "transports":
            for name in names:
                parts = name.split(".")
                if parts[0] == "newsletter" and len(parts) > 1:
                    assert parts[1] in ("transports", "errors"), f"{relative} imports {name}"


def test_each_library_lives_in_one_place():
    for relative, names in _modules().items():
        for library, homes in LIBRARY_HOMES.items():
            if any(n == library or n.startswith(library + ".") for n in names):
                assert any(relative == h or relative.startswith(h) for h in homes), (
                    f"{relative} imports {library}; only {homes} may"
                )


def test_no_grab_bag_modules_and_modules_stay_small():
    for path in PACKAGE.rglob("*.py"):
        assert not any(w in path.stem for w in ("util", "helper", "common", "misc")), path
        assert len(path.read_text().splitlines()) <= 400, f"{path} is over 400 lines"
