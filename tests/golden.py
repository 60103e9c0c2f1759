"""Golden files of the compiled sample issue: `make golden` (python -m tests.golden) rewrites them.

The golden build uses the sample project exactly as committed (content/, issues/, templates/,
newsletter.toml) in a temporary folder with a fresh SQLite database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
ISSUES = ("2016-q3", "2016-q4")
FILES = ("index.html", "index.txt", "index.mjml")


def build_sample(issue: str, out: Path) -> None:
    """Build ``issue`` of the committed sample project into ``out``."""
    from newsletter import db
    from newsletter.config import Settings
    from newsletter.issues.build import build_issue, sync_markdown, write_build

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("content", "issues", "templates"):
            shutil.copytree(ROOT / name, Path(tmp) / name)
        shutil.copy(ROOT / "newsletter.toml", Path(tmp) / "newsletter.toml")
        previous = Path.cwd()
        os.chdir(tmp)
        try:
            settings = Settings(database_url=f"sqlite:///{tmp}/golden.db")
            engine = db.make_engine(settings.database_url)
            db.ensure_schema(engine)
            sync_markdown(settings, engine)
            write_build(build_issue(settings, engine, issue), out)
            engine.dispose()
        finally:
            os.chdir(previous)


def main() -> None:
    for issue in ISSUES:
        target = GOLDEN / issue
        build_sample(issue, target)
        (target / "issue.json").unlink()
        print(f"rewrote {target.relative_to(ROOT)}/{{{','.join(FILES)}}}")


if __name__ == "__main__":
    main()
