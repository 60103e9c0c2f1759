"""The staff pages' markup keeps the promises the CSP and accessibility make: no inline script or
event handler, script only from our own static files, every visible form control with a visible
<label>, a skip link to the main content; the vendored files are served. Also: a role change
and a concurrent double use of one link."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

from newsletter.models import Role
from newsletter.staff import accounts, links
from tests.admin.conftest import add_staff


class Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.ids: set[str] = set()
        self.inline_styles = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self.inline_styles += "style" in found
        if tag == "script":
            self.scripts.append(found)
        elif tag == "label" and found.get("for"):
            self.labels.add(str(found["for"]))
        elif tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found)


def parsed(html: str) -> Markup:
    markup = Markup()
    markup.feed(html)
    return markup


def check(html: str) -> None:
    markup = parsed(html)
    assert markup.handlers == [] and markup.inline_styles == 0
    for script in markup.scripts:
        assert str(script.get("src", "")).startswith("/static/admin/"), script
    for control in markup.controls:
        assert control.get("id") in markup.labels, f"no <label for> for {control}"
    assert 'class="skip" href="#main"' in html and "main" in markup.ids


def test_every_staff_page_keeps_the_markup_rules(as_role, anonymous, admin_engine):
    staff = add_staff(admin_engine, Role.editor, "ann@example.org")
    assert staff.id is not None
    token = links.create(admin_engine, staff.id, links.INVITE)
    client = as_role(Role.admin)
    pages = [
        anonymous.get("/admin/login"),
        anonymous.get(f"/admin/link/{token}"),
        anonymous.get("/admin/link/unknown"),
        client.get("/admin/account"),
        client.get("/admin/activity"),
        as_role(Role.viewer).post("/admin/account/sessions/others", csrf=False),  # 403 page
    ]
    for page in pages:
        assert page.headers["content-type"].startswith("text/html")
        check(page.text)
    assert len(parsed(pages[4].text).controls) == 3  # person, action, issue


def test_the_vendored_files_are_served(anonymous):
    for name, kind in [
        ("htmx.min.js", "javascript"),
        ("admin.js", "javascript"),
        ("admin.css", "text/css"),
        ("htmx.LICENSE", ""),  # served as a download
    ]:
        answer = anonymous.get(f"/static/admin/{name}")
        assert answer.status_code == 200 and kind in answer.headers["content-type"], name
    assert 'version:"2.0.11"' in anonymous.get("/static/admin/htmx.min.js").text


def test_a_role_change_counts_from_the_next_click(as_role, admin_engine):
    client = as_role(Role.viewer)
    assert client.get("/admin/activity").status_code == 200
    accounts.set_role(admin_engine, "viewer@example.org", Role.admin)
    page = client.get("/admin/account")
    assert "role <strong>admin</strong>" in page.text


def test_one_link_used_twice_at_once_lets_one_in(admin_engine):
    staff = add_staff(admin_engine, Role.editor, "ann@example.org")
    assert staff.id is not None
    token = links.create(admin_engine, staff.id, links.INVITE)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: links.claim(admin_engine, token), range(8)))
    assert results.count(staff.id) == 1 and results.count(None) == 7
