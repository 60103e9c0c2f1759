"""The editor's preview refresh for a 20-post issue: p50 and p95 over ``--runs`` refreshes.

One refresh is what the browser does after a pause in typing: POST the whole unsaved form to
``/admin/issues/{slug}/preview`` (built as ``newsletter build`` builds the file, checked, kept
for the frame) and GET the frame it names. In process (the app under Starlette's TestClient),
a signed-in editor, SQLite in a temporary folder, the sample templates.

    python bench/dashboard_preview.py [--runs 30] [--posts 20]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret-bench-secret-bench-secret"
ISSUE = """title = "Quarterly update: July to September 2016"
subject = "Bench issue"
quarter = "2016-Q3"
intro = \"\"\"
Dear friends,
\"\"\"

[[sections]]
title = "Research"
categories = ["research"]
limit = 10

[[sections]]
title = "News"
categories = ["updates"]
limit = 10
display = "full"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--posts", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("content", "issues", "templates"):
            shutil.copytree(ROOT / name, folder / name)
        shutil.copy(ROOT / "newsletter.toml", folder / "newsletter.toml")
        (folder / "issues" / "bench.toml").write_text(ISSUE, encoding="utf-8")
        os.chdir(folder)
        os.environ.update(
            NEWSLETTER_DATABASE_URL=f"sqlite:///{folder}/bench.db",
            NEWSLETTER_SECRET_KEY=SECRET,
            NEWSLETTER_SCHEDULER_IN_SERVER="false",
        )
        times, frame_times, size = run(args.posts, args.runs)
    print(f"preview refresh, {args.posts}-post issue, {args.runs} runs ({size / 1024:.1f} KB HTML)")
    for label, values in (("POST preview", times), ("POST preview + GET frame", frame_times)):
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        print(
            f"  {label:<26} p50 {statistics.median(values) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"
        )


def form_fields(text: str) -> dict[str, str]:
    """What the editor page submits for ``text``."""
    from newsletter.issues import editing
    from newsletter.issues.filetext import file_hash

    return {"base_hash": file_hash(text), **editing.to_fields(editing.read_form(text))}


def run(posts: int, runs: int) -> tuple[list[float], list[float], int]:
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from newsletter import db
    from newsletter.config import Settings
    from newsletter.models import Post, Role, Staff, utcnow
    from newsletter.staff import sessions
    from newsletter.transports.outbox import OutboxTransport
    from newsletter.web import create_app
    from newsletter.web.admin.auth import cookie_name, lifetimes

    settings = Settings()
    engine = db.make_engine(settings.database_url)
    db.ensure_schema(engine)
    start = datetime(2016, 7, 2, tzinfo=UTC)
    body = "<p>" + "A paragraph about safe migration and the protection of workers. " * 12 + "</p>"
    with Session(engine) as session:
        for i in range(posts):
            session.add(
                Post(
                    slug=f"bench-post-{i}",
                    title=f"Bench post {i} on migration",
                    url=f"https://mpat.example.org/bench/{i}/",
                    published_at=start + timedelta(days=4 * i),
                    updated_at=start,
                    categories=["research" if i % 2 else "updates"],
                    summary="What we found, in two sentences. And why it matters.",
                    html=body,
                    source="bench",
                    source_id=str(i),
                    content_hash=str(i),
                    synced_at=utcnow(),
                )
            )
        staff = Staff(
            email="ed@example.org",
            email_key="ed@example.org",
            role=Role.editor,
            created_at=utcnow(),
        )
        session.add(staff)
        session.commit()
        assert staff.id is not None
        staff_id = staff.id
    token, row = sessions.start(engine, staff_id, lifetimes(settings))
    app = create_app(settings, engine, OutboxTransport(settings.outbox_dir))
    client = TestClient(app, base_url=settings.base_url)
    client.cookies.set(cookie_name(settings), token)
    headers = {"Origin": settings.base_url, "Sec-Fetch-Site": "same-origin", "HX-Request": "true"}
    assert client.get("/admin/issues/bench").status_code == 200
    fields = form_fields(ISSUE)
    fields["csrf_token"] = row.csrf_token
    times, frame_times, size = [], [], 0
    for index in range(runs + 2):  # two warm-ups
        fields["subject"] = f"Bench issue, edit {index}"
        began = time.perf_counter()
        answer = client.post("/admin/issues/bench/preview", data=fields, headers=headers)
        posted = time.perf_counter()
        found = re.search(r'src="(/admin/issues/bench/preview/[^"]+)"', answer.text)
        assert answer.status_code == 200 and found, answer.text[:500]
        frame = client.get(found.group(1))
        done = time.perf_counter()
        assert frame.status_code == 200 and "Bench post" in frame.text
        size = len(frame.content)
        if index >= 2:
            times.append(posted - began)
            frame_times.append(done - began)
    engine.dispose()
    return times, frame_times, size


if __name__ == "__main__":
    main()
