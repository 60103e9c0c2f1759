"""Median time to compile the sample issue, warm and in process, overall and per stage.

    python bench/compile.py [ISSUE] [--runs N]

Builds a throwaway project (SQLite file in a temp folder, the sample content synced), compiles
once to warm up, then N times, and prints the median and the spread of each stage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("issue", nargs="?", default="2016-q3")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("content", "issues", "templates"):
            shutil.copytree(ROOT / name, Path(tmp) / name)
        shutil.copy(ROOT / "newsletter.toml", Path(tmp) / "newsletter.toml")
        os.chdir(tmp)
        os.environ["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"

        from newsletter import db
        from newsletter.config import get_settings
        from newsletter.issues.build import build_issue, sync_markdown
        from newsletter.issues.compiler import make_environment

        settings = get_settings()
        engine = db.make_engine(settings.database_url)
        db.ensure_schema(engine)
        sync_markdown(settings, engine)

        env = make_environment(settings.templates_dir)  # reused, as preview does
        build_issue(settings, engine, args.issue, env)  # warm-up: imports, caches, cssutils
        stages: dict[str, list[float]] = {}
        totals: list[float] = []
        for _ in range(args.runs):
            start = time.perf_counter()
            result = build_issue(settings, engine, args.issue, env)
            totals.append(time.perf_counter() - start)
            for stage, seconds in result.compiled.timings.items():
                stages.setdefault(stage, []).append(seconds)

        tracemalloc.start()
        build_issue(settings, engine, args.issue, env)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    compiled = result.compiled
    print(f"issue {args.issue}: {compiled.post_count} posts, HTML {compiled.size / 1024:.1f} KB")
    print(f"{args.runs} warm runs, medians (min-max) in ms:")
    pipeline = sum(statistics.median(v) for v in stages.values())
    for stage, values in stages.items():
        median = statistics.median(values) * 1000
        share = statistics.median(values) / pipeline * 100
        print(
            f"  {stage:8} {median:8.2f}  ({min(values) * 1000:.2f}-{max(values) * 1000:.2f})  {share:4.0f}% of compile"
        )
    print(f"  {'compile':8} {pipeline * 1000:8.2f}  (sum of the stage medians)")
    print(
        f"  {'build':8} {statistics.median(totals) * 1000:8.2f}  "
        f"({min(totals) * 1000:.2f}-{max(totals) * 1000:.2f})  load + select + compile + checks"
    )
    print(f"peak Python allocations during one build: {peak / 1024 / 1024:.1f} MB")


if __name__ == "__main__":
    main()
