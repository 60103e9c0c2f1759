"""The editor's preview (web/admin/preview.py): the unsaved draft built as `newsletter build`
builds it, shown only in a sandboxed frame with its own policy, the checks and the size, and
"preview as" a subscriber without telling a role that may not know who subscribes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.models import Role
from newsletter.subscribers.store import ConsentInfo, add
from tests.admin.conftest import StaffClient
from tests.admin.editor_kit import SLUG, form_data, frame_src, unscheduled

AsRole = Callable[[Role], StaffClient]
URL = f"/admin/issues/{SLUG}"
HTMX = {"HX-Request": "true"}


def test_the_preview_is_the_unsaved_draft_in_a_sandboxed_frame(
    as_role: AsRole, admin_settings: Settings
) -> None:
    path = unscheduled(admin_settings)
    text = path.read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    fields = form_data(text, title="A title only the draft has", intro="Draft *words*\n")
    panel = editor.post(f"{URL}/preview", fields, headers=HTMX)
    assert panel.status_code == 200
    assert "<iframe sandbox" in panel.text and 'title="The email 2016-q4' in panel.text
    assert "style=" not in panel.text and "<body" not in panel.text  # no email HTML inline
    assert "Desktop (600 px)" in panel.text and "Phone (375 px)" in panel.text
    assert "of Gmail's 102 KB clip" in panel.text and "<meter" in panel.text
    assert "A title only the draft has" in panel.text  # the plain-text part
    frame = editor.get(frame_src(panel.text))
    assert frame.status_code == 200
    assert "A title only the draft has" in frame.text and "<em>words</em>" in frame.text
    policy = frame.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy and "sandbox" in policy
    assert "script-src 'none'" in policy
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    assert frame.headers["cache-control"] == "no-store"
    assert path.read_text(encoding="utf-8") == text  # a preview writes nothing
    # the same build as `newsletter build`: an excluded post leaves the preview too
    excluded = editor.post(
        f"{URL}/preview",
        form_data(text, **{"sections[0].exclude": "forced-marriage-cambodia-china"}),
        headers=HTMX,
    )
    post_title = "New research: forced marriage between Cambodia and China"
    assert post_title not in editor.get(frame_src(excluded.text)).text
    assert post_title in frame.text


def test_a_frame_is_only_its_owners(as_role: AsRole, admin_settings: Settings) -> None:
    text = unscheduled(admin_settings).read_text(encoding="utf-8")
    panel = as_role(Role.editor).post(f"{URL}/preview", form_data(text), headers=HTMX)
    src = frame_src(panel.text)
    assert as_role(Role.viewer).get(src).status_code == 404
    assert as_role(Role.editor).get(f"{URL}/preview/{'x' * 24}.html").status_code == 404
    assert as_role(Role.editor).get(src.replace(SLUG, "2016-q3")).status_code == 404


def test_without_javascript_the_preview_button_shows_the_editor_with_the_panel(
    as_role: AsRole, admin_settings: Settings
) -> None:
    text = unscheduled(admin_settings).read_text(encoding="utf-8")
    page = as_role(Role.editor).post(f"{URL}/preview", form_data(text, subject="Mine, unsaved"))
    assert page.status_code == 200
    assert "<iframe sandbox" in page.text and 'value="Mine, unsaved"' in page.text
    assert "<html" in page.text and "Preview of your unsaved changes." in page.text


def test_errors_of_the_draft_and_the_checks_show(as_role: AsRole, admin_settings: Settings) -> None:
    text = unscheduled(admin_settings).read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    broken = editor.post(
        f"{URL}/preview", form_data(text, **{"sections[0].limit": "0"}), headers=HTMX
    )
    assert "does not build yet" in broken.text and "sections[0].limit" in broken.text
    assert "<iframe" not in broken.text
    long = editor.post(f"{URL}/preview", form_data(text, subject="S" * 120), headers=HTMX)
    assert "Warnings" in long.text or "Errors" in long.text


def test_preview_as_fills_a_subscriber_only_for_who_may_know(
    as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    footer = admin_settings.templates_dir / "partials" / "footer.mjml.j2"
    footer.write_text(
        footer.read_text().replace("<p>{{ org.name }} ·", "<p>To {{ recipient.name }} ·"),
        encoding="utf-8",
    )
    with Session(admin_engine) as session:
        add(session, "Ana@Example.org", "Ana Reader", confirmed=True, consent=ConsentInfo("test"))
        session.commit()
    text = unscheduled(admin_settings).read_text(encoding="utf-8")

    def shown(role: Role, address: str) -> str:
        client = as_role(role)
        panel = client.post(f"{URL}/preview", form_data(text, preview_as=address), headers=HTMX)
        return client.get(frame_src(panel.text)).text

    assert "To Ana Reader" in shown(Role.publisher, "ana@example.org")
    assert "To Sample Reader" in shown(Role.publisher, "nobody@example.org")
    as_editor = shown(Role.editor, "ana@example.org")
    assert "To Sample Reader" in as_editor and "Ana Reader" not in as_editor
    assert as_editor == shown(Role.editor, "ana@example.org")


def test_pins_and_their_order_show_in_the_preview(
    as_role: AsRole, admin_settings: Settings
) -> None:
    text = (admin_settings.issues_dir / "2016-q3.toml").read_text(encoding="utf-8")
    editor = as_role(Role.editor)
    url = "/admin/issues/2016-q3"
    older = ("global-effort-against-trafficking-blog", "the global effort against trafficking")
    newer = ("thai-criminal-law-trafficking-blog", "a crime against the state or the person")

    def blog_order(**changes: str) -> list[str]:
        panel = editor.post(f"{url}/preview", form_data(text, **changes), headers=HTMX)
        html = editor.get(frame_src(panel.text)).text
        return [
            slug for _, slug in sorted((html.index(title), slug) for slug, title in (older, newer))
        ]

    assert blog_order() == [older[0], newer[0]]  # the section's own order: oldest first
    pinned = blog_order(**{"sections[2].pin": f"{newer[0]}, {older[0]}"})
    assert pinned == [newer[0], older[0]]


def test_a_viewer_previews_the_saved_file_whatever_the_form_says(
    as_role: AsRole, admin_settings: Settings
) -> None:
    text = unscheduled(admin_settings).read_text(encoding="utf-8")
    draft = form_data(text, title="Words only a draft has")
    viewer, editor = as_role(Role.viewer), as_role(Role.editor)
    seen = viewer.post(f"{URL}/preview", draft, headers=HTMX)
    assert seen.status_code == 200 and "Words only a draft has" not in seen.text
    frame = viewer.get(frame_src(seen.text)).text
    assert "Words only a draft has" not in frame and "best wishes for 2017" in frame
    raw = viewer.post(f"{URL}/preview", {"text": 'subject = "only mine"\n'}, headers=HTMX)
    assert "does not build" not in raw.text and "only mine" not in raw.text
    assert "best wishes for 2017" in viewer.get(frame_src(raw.text)).text
    page = viewer.post(f"{URL}/preview", draft)  # without JavaScript: the editor page
    assert "Preview of the saved issue." in page.text and "Words only a draft has" not in page.text
    drafted = editor.post(f"{URL}/preview", draft, headers=HTMX)
    assert "Words only a draft has" in editor.get(frame_src(drafted.text)).text


@pytest.mark.parametrize("role", [Role.viewer, Role.editor])
def test_preview_as_says_nothing_of_who_subscribes_to_who_may_not_know(
    role: Role, as_role: AsRole, admin_settings: Settings, admin_engine: sa.Engine
) -> None:
    with Session(admin_engine) as session:
        add(session, "ana@example.org", "Ana Reader", confirmed=True, consent=ConsentInfo("t"))
        session.commit()
    text = unscheduled(admin_settings).read_text(encoding="utf-8")
    client = as_role(role)

    def shown(address: str) -> tuple[str, str]:
        fields = form_data(text, preview_as=address)
        panel = client.post(f"{URL}/preview", fields, headers=HTMX)
        src = frame_src(panel.text)
        key = src.rsplit("/", 1)[1].removesuffix(".html")
        frame = client.get(src).text
        return panel.text.replace(key, "KEY").replace(address, "ADDRESS"), frame.replace(
            address, "ADDRESS"
        )

    known, unknown = shown("ana@example.org"), shown("bob@example.org")  # same length
    assert known == unknown
    assert "Ana Reader" not in known[0] + known[1] and "subscriber" not in known[0]
