"""Every setting and every command is documented for the people who use them."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from typer.core import TyperGroup

from newsletter.cli import app
from newsletter.config import Settings
from tests.conftest import ROOT


def _docs() -> str:
    return "\n".join(
        p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    )


def _command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            paths.extend(_command_paths(command, path))
        else:
            paths.append(path)
    return paths


def test_every_setting_is_in_docs_settings():
    text = (ROOT / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M))
    assert set(Settings.model_fields) == documented


def test_every_command_and_option_is_documented():
    docs = _docs()
    root = typer.main.get_command(app)
    for path in _command_paths(root):
        name = "newsletter " + " ".join(path)
        assert name in docs, f"{name} is not documented"
        command = root
        for part in path:
            assert isinstance(command, TyperGroup)
            command = command.commands[part]
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--help":
                    assert opt in docs, f"{name} {opt} is not documented"


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    # CI runs make check: lint, typecheck of all three trees, then the README's make test
    ci = (ROOT / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if line.startswith("make ")] == ["make check"]
    makefile = (ROOT / "Makefile").read_text()
    check = re.search(r"^check:(.*)$", makefile, flags=re.M)
    assert check is not None and check.group(1).split() == ["lint", "typecheck", "test"]
    assert "mypy newsletter tests bench\n" in makefile


def test_architecture_lists_every_module():
    """docs/architecture.md has a row for every module of the package (migrations aside)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py)`", text))
    package = ROOT / "newsletter"
    for path in sorted(package.rglob("*.py")):
        relative = str(path.relative_to(package))
        if relative.startswith("migrations/") or path.stem == "__main__":
            continue
        if path.stem == "__init__" and relative != "cli/__init__.py":
            continue  # a package's docstring only
        assert relative in listed, f"docs/architecture.md does not list newsletter/{relative}"


def test_module_paths_named_in_the_docs_exist():
    """A path (newsletter/sending/retrying.py) or dotted name (newsletter.subscribers.tokens.x)
    in the README or docs/ still names a module of the package."""
    docs = _docs()
    for path in set(re.findall(r"newsletter/[a-z_/]+\.py", docs)):
        assert (ROOT / path).is_file(), f"the docs name {path}, which does not exist"
    for dotted in set(re.findall(r"`(newsletter(?:\.[a-z_]+){2,})", docs)):  # not newsletter.toml
        parts = dotted.split(".")
        found = any(
            (ROOT / Path(*parts[:n])).with_suffix(".py").is_file()
            or (ROOT / Path(*parts[:n])).is_dir()
            for n in range(len(parts), 1, -1)
        )
        assert found, f"the docs name {dotted}, which is in no module"
