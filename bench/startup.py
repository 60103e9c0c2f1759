"""Cold start of the ``newsletter`` command: whole processes, as a person or cron runs them.

    python bench/startup.py [--runs N] [--newsletter PATH] [--no-mjml]

In a throwaway project (the sample content synced into a SQLite file), times N runs each of
``newsletter --help``, ``newsletter subscribers count`` and ``newsletter build 2016-q3``, and
prints the median and spread of the wall time and the median peak memory (RSS) of each.

The reference is the official ``mjml`` CLI (Node) from the npm registry's ``mjml`` package,
installed by this script into bench/.cache/ (once; reruns reuse it), compiling the same MJML
the build hands to mjml-python (the build's index.mjml with attribute whitespace collapsed, as
``compiler.mjml_to_html`` does), also timed as a whole process, in turn with the build (build,
mjml, build, mjml...) so that other work on the machine weighs on both alike: build / mjml is the ratio
issue 14 aims to bring to 1 or below. Last, premailer's first transform in a fresh process,
with cssutils' property validation (its default) and without (what ``compiler`` does).
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
ISSUE = "2016-q3"
COMMANDS = (("--help",), ("subscribers", "count"), ("build", ISSUE))
MJML_VERSION = "5.4.1"  # the npm registry's latest when this was written
CACHE = ROOT / "bench" / ".cache"

# premailer's first transform in a fresh process: argv[1] the HTML file, argv[2] "validate"
# (cssutils' default profiles put back) or "skip" (as newsletter.issues.compiler leaves it)
FIRST_TRANSFORM = """
import sys, time
import cssutils.profiles
from newsletter.issues.compiler import inline_css
if sys.argv[2] == "validate":
    cssutils.profile = cssutils.profiles.Profiles()
html = open(sys.argv[1], encoding="utf-8").read()
start = time.perf_counter()
inline_css(html)
first = time.perf_counter()
inline_css(html)
print(first - start, time.perf_counter() - first)
"""


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in KB as Linux reports ru_maxrss, CPU seconds: user + system)
    of one whole process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {stderr}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def timed(label: str, command: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Print one line (wall time: median and spread; CPU time and peak RSS: medians) and return
    the medians of the wall and CPU times in milliseconds."""
    return summary(label, [run_once(command, env) for _ in range(runs)])


def timed_together(
    commands: list[tuple[str, list[str]]], env: dict[str, str], runs: int
) -> list[tuple[float, float]]:
    """``timed`` for several commands run in turn (A, B, A, B...), so that other work on the
    machine slows each about as much: their ratio is steadier than from runs one after another."""
    results: list[list[tuple[float, int, float]]] = [[] for _ in commands]
    for _ in range(runs):
        for index, (_, command) in enumerate(commands):
            results[index].append(run_once(command, env))
    return [summary(label, found) for (label, _), found in zip(commands, results, strict=True)]


def summary(label: str, results: list[tuple[float, int, float]]) -> tuple[float, float]:
    times = [t * 1000 for t, _, _ in results]
    rss = statistics.median(r for _, r, _ in results) / 1024
    cpu = statistics.median(c for _, _, c in results) * 1000
    median = statistics.median(times)
    print(
        f"  {label:33} median {median:6.0f} ms ({min(times):.0f}-{max(times):.0f}), "
        f"CPU {cpu:5.0f} ms, peak RSS {rss:.0f} MB"
    )
    return median, cpu


def mjml_cli(version: str) -> Path | None:
    """The official mjml CLI, installed from the npm registry into bench/.cache/ once."""
    prefix = CACHE / f"mjml-{version}"
    binary = prefix / "node_modules" / ".bin" / "mjml"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print("  (no node/npm on PATH: the mjml CLI reference is skipped)")
        return None
    print(f"  installing mjml@{version} from the npm registry into {prefix} (once)")
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(prefix), f"mjml@{version}", "--no-audit", "--no-fund"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return binary


# the MJML the build gave mjml-python (its index.mjml, attribute whitespace collapsed as
# mjml_to_html does) to argv[2], and mjml-python's HTML of it (for premailer) to argv[3]; in a
# child process, so this one stays small (a child's peak RSS counts its parent's until exec)
WRITE_MJML = """
import sys
from pathlib import Path
from newsletter.issues.compiler import collapse_attribute_whitespace, mjml_to_html
source = collapse_attribute_whitespace(Path(sys.argv[1]).read_text(encoding="utf-8"))
Path(sys.argv[2]).write_text(source, encoding="utf-8")
Path(sys.argv[3]).write_text(mjml_to_html(source), encoding="utf-8")
"""


def write_mjml(folder: Path, env: dict[str, str]) -> tuple[Path, Path]:
    mjml_file, html_file = folder / f"{ISSUE}.mjml", folder / f"{ISSUE}.mjml-python.html"
    built = folder / "build" / ISSUE / "index.mjml"
    run_once([sys.executable, "-c", WRITE_MJML, str(built), str(mjml_file), str(html_file)], env)
    return mjml_file, html_file


def first_transforms(html: Path, env: dict[str, str], runs: int) -> None:
    for mode, label in (("validate", "cssutils validating (its default)"), ("skip", "ours")):
        firsts, seconds = [], []
        for _ in range(runs):
            done = subprocess.run(
                [sys.executable, "-c", FIRST_TRANSFORM, str(html), mode],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            first, second = (float(x) * 1000 for x in done.stdout.split())
            firsts.append(first)
            seconds.append(second)
        print(
            f"  premailer, {label:34} first transform median {statistics.median(firsts):5.0f} ms"
            f" ({min(firsts):.0f}-{max(firsts):.0f}), the next {statistics.median(seconds):.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--newsletter",
        default=str(Path(sys.executable).with_name("newsletter")),
        help="the console script to time (default: the one beside this Python)",
    )
    parser.add_argument("--mjml-version", default=MJML_VERSION)
    parser.add_argument("--no-mjml", action="store_true", help="skip the mjml CLI reference")
    args = parser.parse_args()
    binary = None if args.no_mjml else mjml_cli(args.mjml_version)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        for name in ("content", "issues", "templates"):
            shutil.copytree(ROOT / name, folder / name)
        shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env["NEWSLETTER_DATABASE_URL"] = f"sqlite:///{folder / 'bench.db'}"
        env["NEWSLETTER_BUILD_DIR"] = str(folder / "build")
        os.chdir(folder)
        newsletter = [args.newsletter]
        run_once([*newsletter, "content", "sync"], env)  # the database, and warm disk caches
        run_once([*newsletter, "build", ISSUE], env)  # index.mjml, for the reference
        mjml_file, html_file = write_mjml(folder, env)
        print(
            f"cold starts, {args.runs} runs each (medians; a shared machine: other work "
            "running at the same time moves them, the ratio less):"
        )
        for command in COMMANDS[:-1]:
            timed(f"newsletter {' '.join(command)}", [*newsletter, *command], env, args.runs)
        build_label = f"newsletter build {ISSUE}"
        if binary is None:
            timed(build_label, [*newsletter, "build", ISSUE], env, args.runs)
        else:
            reference = [str(binary), str(mjml_file), "-o", str(folder / "mjml-cli.html")]
            run_once(reference, env)  # warm-up: Node's and the package's files in the disk cache
            label = f"mjml {args.mjml_version} CLI (Node), same MJML"
            (build, build_cpu), (mjml, mjml_cpu) = timed_together(
                [(build_label, [*newsletter, "build", ISSUE]), (label, reference)],
                env,
                args.runs,
            )
            print(
                f"  build / mjml CLI: {build / mjml:.2f}x wall time (aim: 1 or less), "
                f"{build_cpu / mjml_cpu:.2f}x CPU time"
            )
        first_transforms(html_file, env, args.runs)


if __name__ == "__main__":
    main()
