"""The rules of docs/architecture.md, kept true with the standard library's ast.

Every module belongs to the top-level unit its path starts with (``issues/checks.py`` to
``issues``, ``config.py`` to ``config``); ``ALLOWED`` says which units each unit may import. A new
module gets its rule from its folder; a new top-level module or package fails until it is placed
in the table. Imports inside functions count like any other.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "newsletter"
FOUNDATION = {"config", "errors", "models", "db", "files", "deferred", "__init__"}
ALLOWED: dict[str, set[str]] = {
    # foundation: settings, the exception tree, the schema, engines and migrations
    "__init__": set(),
    "__main__": {"cli"},
    "errors": set(),
    "config": {"errors", "deferred"},
    "models": set(),
    "db": {"errors", "migrations"},  # migrations/head.py: the newest revision's name
    "files": set(),
    "deferred": set(),
    # the compile side: never the subscriber or sending side
    "content": FOUNDATION,
    "issues": FOUNDATION | {"content"},
    # how messages leave: neither side
    "transports": {"errors", "files"},
    # the subscriber and sending side
    "subscribers": FOUNDATION | {"issues", "transports"},
    "sending": FOUNDATION | {"issues", "subscribers", "transports"},
    # the people who run it: accounts, roles, sessions, the activity log
    "staff": FOUNDATION | {"subscribers", "transports"},
    # transactional emails through the job table: above the subscriber and staff sides, which
    # are handed its ``ask`` by the entry points (subscribers.store.Ask)
    "email_jobs": FOUNDATION | {"issues", "subscribers", "sending", "staff", "transports"},
    # entry points: anything but each other
    "web": FOUNDATION
    | {"content", "issues", "subscribers", "sending", "staff", "transports", "email_jobs"},
    "cli": FOUNDATION
    | {"content", "issues", "subscribers", "sending", "staff", "transports", "web", "email_jobs"}
    | {"migrations"},  # head.py, for console.open_posts (a build reads SQLite without the engine)
}
# Outside the entry points, only the transport protocol and its data are imported: building a
# transport from the settings is the entry points' job (transports/factory.py).
ENTRY_POINTS = {"cli", "web", "__main__"}
# where a spawned child process starts: an entry point of its own, which builds its transport
CHILD_ENTRIES = {"newsletter.sending.processes"}
TRANSPORT_DATA = "newsletter.transports.base"
LIBRARY_HOMES = {
    "mjml": {"issues/compiler.py"},
    "premailer": {"issues/compiler.py"},
    "cssutils": {"issues/compiler.py"},
    "jinja2": {"issues/", "web/"},
    "typer": {"cli/"},
    "rich": {"cli/"},
    "nh3": {"content/html.py"},
    "markdown_it": {"content/markdown_html.py"},
    "frontmatter": {"content/markdown.py"},
    "playwright": {"issues/preview.py"},
    "watchfiles": {"issues/preview.py"},
    "fastapi": {"web/"},
    "starlette": {"web/"},
    "uvicorn": {"web/"},
    "itsdangerous": {"subscribers/tokens.py"},
    "limits": {"web/ratelimit.py"},
    "pwdlib": {"staff/passwords.py"},
    "argon2": {"staff/passwords.py"},
    "pyotp": {"staff/totp.py"},
    "qrcode": {"staff/totp.py"},
    "email_validator": {"subscribers/address.py"},
    "sendgrid": {"transports/sendgrid.py", "transports/webhook_signature.py"},
    "python_http_client": {"transports/sendgrid.py"},
    "feedparser": {"content/feeds.py"},
    "httpx": {"content/fetch.py"},
    "alembic": {"db.py", "migrations/"},
    "pydantic_settings": {"config/"},
    "tomlkit": {"issues/"},
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted (newsletter.issues.checks)
    path: str  # its path relative to newsletter/
    target: str  # what it imports, resolved to a module of ours where it is one


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split("."))
    return (ROOT / relative).with_suffix(".py").is_file() or (ROOT / relative).is_dir()


def _imports() -> Iterator[Import]:
    """Every import statement of the package, at any depth (functions included)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = str(path.relative_to(PACKAGE))
        if relative.startswith("migrations/"):
            continue
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, relative, alias.name)
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.level == 0, f"{relative}: relative import; write it absolute"
                for alias in node.names:  # ``from pkg import module`` imports the module
                    candidate = f"{node.module}.{alias.name}"
                    ours = candidate.startswith("newsletter.") and _is_module(candidate)
                    yield Import(module, relative, candidate if ours else node.module)


def _unit(dotted: str) -> str:
    """The top-level unit of a module of ours: newsletter.issues.checks -> issues."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_top_level_module_and_package_has_a_rule():
    for entry in PACKAGE.iterdir():
        name = entry.name.removesuffix(".py")
        if entry.name in ("__pycache__", "py.typed", "migrations") or name.endswith(".egg-info"):
            continue
        assert name in ALLOWED, f"newsletter/{entry.name} is not in the import table: add it"


def test_imports_follow_the_table():
    broken = []
    for found in _imports():
        if not found.target.startswith("newsletter"):
            continue
        source, target = _unit(found.module), _unit(found.target)
        if source != target and target not in ALLOWED[source]:
            broken.append(f"{found.path} imports {found.target} ({source} may not import {target})")
    assert not broken, "\n".join(broken)


def test_only_entry_points_build_transports():
    for found in _imports():
        source = _unit(found.module)
        if source in ENTRY_POINTS or source == "transports" or found.module in CHILD_ENTRIES:
            continue
        if found.target.startswith("newsletter.transports"):
            assert found.target == TRANSPORT_DATA, f"{found.path} imports {found.target}"


def test_each_library_lives_in_one_place():
    broken = []
    for found in _imports():
        library = found.target.split(".")[0]
        homes = LIBRARY_HOMES.get(library)
        if homes and not any(found.path == h or found.path.startswith(h) for h in homes):
            broken.append(f"{found.path} imports {library}; only {sorted(homes)} may")
    assert not broken, "\n".join(broken)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for found in _imports():
        graph.setdefault(found.module, set())
        if found.target.startswith("newsletter") and found.target != found.module:
            graph[found.module].add(found.target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_imports_the_cli_app_back():
    for found in _imports():
        if found.module.startswith("newsletter.cli."):
            assert found.target != "newsletter.cli", f"{found.path} imports newsletter.cli"


def test_no_grab_bag_modules_and_modules_stay_small():
    top_level = list(PACKAGE.glob("*.py"))  # __init__, __main__ and the foundation
    assert len(top_level) <= 6, f"{len(top_level)} top-level modules: put them in a package"
    for path in PACKAGE.rglob("*.py"):
        assert not any(w in path.stem for w in ("util", "helper", "common", "misc")), path
        assert len(path.read_text().splitlines()) <= 400, f"{path} is over 400 lines"


def _docs_table(heading: str) -> list[tuple[str, str]]:
    """The (first, second) cells of the Markdown table after ``heading`` in architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows: list[tuple[str, str]] = []
    for line in text[text.index(heading) :].splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] not in ("library", "package") and "---" not in line:
            rows.append((cells[0], cells[1]))
    return rows


def test_the_docs_list_the_same_library_homes():
    documented: dict[str, set[str]] = {}
    for libraries, homes in _docs_table("Each third-party library lives in one place"):
        for library in re.findall(r"`([a-z0-9_]+)`", libraries):
            documented[library] = {h.removesuffix("`") for h in re.findall(r"`([a-z_/.]+)`", homes)}
    assert documented == LIBRARY_HOMES


def test_the_docs_list_every_package_of_the_import_table():
    documented = {
        name
        for packages, _ in _docs_table("| package | may import")
        for name in re.findall(r"`([a-z_]+)`", packages)
    }
    assert documented == set(ALLOWED) - {"__init__", "__main__"}
