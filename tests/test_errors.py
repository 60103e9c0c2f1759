"""The exception tree drawn in errors.py's docstring is the real class hierarchy, and every
error of the package is in that module."""

from __future__ import annotations

import ast
import re

from newsletter import errors
from newsletter.errors import NewsletterError
from tests.conftest import ROOT

BRANCH = re.compile(r"(?P<indent>(?:│   |    )*)[├└]── (?P<name>\w+)")


def drawn() -> dict[str, str]:
    """Each class the docstring draws -> its parent in the drawing."""
    lines = (errors.__doc__ or "").splitlines()
    start = lines.index(NewsletterError.__name__)
    parents: dict[str, str] = {}
    path = [NewsletterError.__name__]  # the names from the root down to the previous line
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        found = BRANCH.match(line)
        assert found, f"not a line of the tree: {line!r}"
        depth = len(found["indent"]) // 4 + 1
        assert depth <= len(path), f"drawn under nothing: {line!r}"
        del path[depth:]
        assert found["name"] not in parents, f"{found['name']} is drawn twice"
        parents[found["name"]] = path[-1]
        path.append(found["name"])
    return parents


def real() -> dict[str, str]:
    """Each subclass of NewsletterError defined in the package -> its base class."""
    parents: dict[str, str] = {}
    pending = [NewsletterError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("newsletter"):
                assert sub.__bases__ == (cls,), f"{sub.__name__}: one base, please"
                parents[sub.__name__] = cls.__name__
                pending.append(sub)
    return parents


def test_the_drawn_tree_is_the_class_hierarchy():
    assert drawn() == real()


def test_the_drawing_is_read_as_drawn():
    tree = drawn()
    assert tree["LocatedError"] == "NewsletterError"
    assert {n for n, p in tree.items() if p == "LocatedError"} == {
        "ContentError", "IssueFileError", "CompileError", "ImportFileError",
    }  # fmt: skip
    assert tree["CheckFailed"] == "SendError"
    assert tree["UnknownSubscriber"] == "SubscriberError"
    assert tree["WebhookError"] == "NewsletterError"


def test_every_error_of_the_package_is_defined_in_errors_py():
    names = set(real()) | {NewsletterError.__name__}
    elsewhere = []
    for path in sorted((ROOT / "newsletter").rglob("*.py")):
        if path.name == "errors.py" and path.parent.name == "newsletter":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & names:
                    elsewhere.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert not elsewhere, "errors defined outside errors.py: " + ", ".join(elsewhere)


def test_delivery_error_is_a_newsletter_error_still_imported_from_transports_base():
    from newsletter.transports.base import DeliveryError

    assert DeliveryError is errors.DeliveryError
    assert issubclass(DeliveryError, NewsletterError)
    error = DeliveryError("503", retryable=True, status=503, retry_after=2.0)
    assert (str(error), error.retryable, error.fatal, error.uncertain) == (
        "503",
        True,
        False,
        False,
    )
    assert (error.status, error.retry_after) == (503, 2.0)


def test_failing_checks_are_a_send_error():
    assert issubclass(errors.CheckFailed, errors.SendError)
