"""Placeholders only where the template puts them: text from a source never becomes one.

The hostile post (tests/hostile_kit.py) carries ``%%email%%``, ``%%unsubscribe_url%%``,
``%%name_html%%``... in its body (also as ``&#37;`` entities and split by tags), title,
summary, URL, image URL, alt text, author and categories; the issue file does in its title,
intro and a section title. Sent through the real sender and the outbox, each recipient's
address and unsubscribe token appear only where the template and the headers put them.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from pathlib import Path

import lxml.html
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.issues import placeholders
from newsletter.issues.build import build_issue
from newsletter.issues.checks import check_compiled
from newsletter.subscribers import store as subscribers
from newsletter.subscribers.store import ConsentInfo
from tests.conftest import run_cli
from tests.hostile_kit import SLUG, write_hostile

SECRET = "test-secret-key-for-signing-links-0123456789"
PEOPLE = [("zqx.one@example.net", "Zqxana Reader"), ("zqy.two@example.net", 'Zqybo "B" <b>&</b>')]


def test_source_text_keeps_its_look_but_makes_no_placeholder(project, synced, settings):
    write_hostile(project)
    compiled = build_issue(settings, synced, SLUG).compiled
    # only the footer's two links (view in browser twice, unsubscribe once)
    assert compiled.template_placeholders == {"unsubscribe_url": 1, "view_url": 2}
    assert placeholders.counts(compiled.html) == compiled.template_placeholders
    assert placeholders.counts(compiled.text) == compiled.template_placeholders
    assert compiled.placeholders == ("unsubscribe_url", "view_url")
    # what a reader sees in the HTML is what the post says
    visible = " ".join(lxml.html.document_fromstring(compiled.html).text_content().split())
    assert "Body %%email%% and %%unsubscribe_url%% and %%view_url%% 100% sure." in visible
    assert "Title %%email%% and %%name_html%%" in visible
    assert "Intro %%email%%" in visible and "In full %%name%%" in visible
    # the text part shows it with full-width percent signs, never a fillable token
    assert "Body ％％email％％ and ％％unsubscribe_url％％ and ％％view_url％％ 100% sure." in (
        " ".join(compiled.text.split())
    )
    links = [a.get("href") for a in lxml.html.document_fromstring(compiled.html).iter("a")]
    assert "https://mpat.example.org/%%unsubscribe_url%%" in links  # a browser goes there
    assert not [f for f in build_issue(settings, synced, SLUG).findings if "placeholder" in f.code]


def test_check_fails_a_placeholder_the_template_did_not_put(project, synced, settings):
    compiled = build_issue(settings, synced, "2016-q3").compiled
    assert not [f for f in check_compiled(compiled, postal_address=settings.postal_address)
                if f.code == "placeholder-origin"]  # fmt: skip
    smuggled = replace(compiled, html=compiled.html.replace("</p>", " %%email%%</p>", 1))
    findings = check_compiled(smuggled, postal_address=settings.postal_address)
    assert any(
        f.level == "error" and f.code == "placeholder-origin" and "%%email%% 1 times" in f.message
        for f in findings
    )
    twice = replace(compiled, text=compiled.text + "\n%%unsubscribe_url%%\n")
    findings = check_compiled(twice, postal_address=settings.postal_address)
    assert any("text holds %%unsubscribe_url%% 2 times" in f.message for f in findings)


def test_a_subject_with_a_placeholder_fails_the_check(project, synced):
    path = project / "issues" / "2016-q3.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('subject = "', 'subject = "For %%name%%: ', 1), encoding="utf-8")
    code, out, err = run_cli("check", "2016-q3")
    assert code == 1
    assert "the subject holds %%name%%" in out + err


def _message(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_hostile_post_sent_leaks_no_address_or_token(project, synced, settings, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", SECRET)
    write_hostile(project, html_twins=False)
    with Session(synced) as session:
        for address, name in PEOPLE:
            subscribers.add(session, address, name, confirmed=True, consent=ConsentInfo(source="t"))
        session.commit()
    code, out, err = run_cli("send", SLUG, "--yes")
    assert code == 0, err
    assert "2 accepted" in out
    files = sorted((Settings().outbox_dir).glob("*.eml"))
    assert len(files) == 2
    for path in files:
        message = _message(path)
        to = str(message["To"])
        address = next(a for a, _ in PEOPLE if a in to)
        name = next(n for a, n in PEOPLE if a == address)
        unsubscribe = str(message["List-Unsubscribe"]).strip("<>")
        token = unsubscribe.rsplit("/", 1)[1]
        html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
        assert html_part is not None and text_part is not None
        html, text = html_part.get_content(), text_part.get_content()
        for body in (html, text, str(message["Subject"])):
            assert address not in body and address.split("@")[0] not in body.lower()
            assert name.split()[0] not in body
        # the token: once in the HTML (the footer's link), once in the text (the same link)
        assert html.count(token) == 1 and f'href="{unsubscribe}"' in html
        assert text.count(token) == 1 and f"Unsubscribe ({unsubscribe})" in text
        headers = "\n".join(f"{k}: {v}" for k, v in message.items())
        assert headers.count(token) == 1  # List-Unsubscribe only
        assert not re.search(r"%%[a-z_]+%%", html + text)  # nothing left for anyone to fill
        visible = " ".join(lxml.html.document_fromstring(html).text_content().split())
        assert "Body %%email%% and %%unsubscribe_url%%" in visible  # shown as the post says
