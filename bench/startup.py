"""Cold start of the ``newsletter`` command: whole processes, as a person or cron runs them.

    python bench/startup.py [--runs N] [--newsletter PATH]

In a throwaway project (the sample content synced into a SQLite file), times N runs each of
``newsletter --help``, ``newsletter subscribers count`` and ``newsletter build 2016-q3``, and
prints the median and spread of the wall time and the median peak memory (RSS) of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (("--help",), ("subscribers", "count"), ("build", "2016-q3"))


def run_once(newsletter: str, args: tuple[str, ...], env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KB as Linux reports ru_maxrss) of one whole process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [newsletter, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"newsletter {' '.join(args)} failed ({process.returncode}): {stderr}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--newsletter",
        default=str(Path(sys.executable).with_name("newsletter")),
        help="the console script to time (default: the one beside this Python)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        for name in ("content", "issues", "templates"):
            shutil.copytree(ROOT / name, folder / name)
        shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{folder / 'bench.db'}"
        env["NEWSLETTER_BUILD_DIR"] = str(folder / "build")
        os.chdir(folder)
        run_once(args.newsletter, ("content", "sync"), env)  # the database, and warm disk caches
        print(f"cold starts of {args.newsletter}, {args.runs} runs each:")
        for command in COMMANDS:
            runs = [run_once(args.newsletter, command, env) for _ in range(args.runs)]
            times = [t * 1000 for t, _ in runs]
            rss = statistics.median(r for _, r in runs) / 1024
            print(
                f"  newsletter {' '.join(command):22} median {statistics.median(times):7.0f} ms "
                f"({min(times):.0f}-{max(times):.0f}), peak RSS {rss:.0f} MB"
            )


if __name__ == "__main__":
    main()
