"""The fake SendGrid is strict: it refuses what the spec and SendGrid's documented rules refuse."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail, Personalization, To

from tests.fake_sendgrid import UNAUTHORIZED, FakeSendGrid
from tests.sendgrid_spec import SPEC, fast_is_valid, shape_is_enough, validator

VALID: dict[str, Any] = {
    "personalizations": [{"to": [{"email": "a@example.org", "name": "A"}]}],
    "from": {"email": "news@example.org", "name": "News"},
    "subject": "Hello",
    "content": [{"type": "text/plain", "value": "Hi"}, {"type": "text/html", "value": "<p>Hi</p>"}],
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeSendGrid() as server:
        yield server


def post(fake: FakeSendGrid, body: Any, *, key: str | None = None, path: str = "/v3/mail/send"):
    """(status, parsed JSON or None, headers) for one raw POST."""
    request = urllib.request.Request(
        fake.url + path,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {key or fake.api_key}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, None, response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers


def with_changes(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return body


def test_the_copied_spec_is_the_official_file_unchanged():
    readme = (SPEC.parent / "README.md").read_text()
    for path in (SPEC, SPEC.parent / "LICENSE.sendgrid-oai"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert re.search(rf"`{path.name}`.*`{digest}`", readme), path.name


def test_a_valid_body_is_accepted_with_a_message_id(fake):
    status, body, headers = post(fake, VALID)
    assert (status, body) == (202, None)
    assert headers["X-Message-Id"] == fake.accepted[0].message_id
    assert fake.recipients() == ["a@example.org"]


def test_the_sdk_mail_helper_output_passes_the_patched_spec(fake):
    mail = Mail(from_email="news@example.org", subject="Hello", plain_text_content="Hi")
    for address in ("a@example.org", "b@example.org"):
        personalization = Personalization()
        personalization.add_to(To(address))
        personalization.add_custom_arg(CustomArg("subscriber_id", "1" + address[0]))
        mail.add_personalization(personalization, index=len(mail.personalizations))
    mail.custom_arg = CustomArg("send_id", "9")  # top-level custom_args: an object, not a string
    response = SendGridAPIClient(api_key=fake.api_key, host=fake.url).send(mail)
    assert response.status_code == 202
    assert fake.accepted[0].body["custom_args"] == {"send_id": "9"}


def many(count: int, *, cc: int = 0) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [{"to": [{"email": f"r{i}@example.org"}]} for i in range(count)]
    if cc:
        entries[0]["cc"] = [{"email": f"cc{i}@example.org"} for i in range(cc)]
    return entries


REFUSED = {
    "missing from": (with_changes(**{"from": None}), "The from object must be provided", None),
    "empty personalizations": (
        with_changes(personalizations=[]),
        "You must have at least one personalization.",
        "personalizations",
    ),
    "1001 personalizations": (
        with_changes(personalizations=many(1001)),
        "limited to 1000 personalizations per API request. You have provided 1001",
        "personalizations",
    ),
    "1001 recipients with cc": (
        with_changes(personalizations=many(901, cc=100)),
        "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
        "personalizations",
    ),
    "an address twice": (
        with_changes(
            personalizations=[
                {"to": [{"email": "a@example.org"}]},
                {"to": [{"email": "A@example.org"}]},
            ]
        ),
        "should only be included once",
        "personalizations.1.to",
    ),
    "no content": (
        with_changes(content=None),
        "Unless a valid template_id is provided, the content parameter is required.",
        "content",
    ),
    "no subject": (with_changes(subject=None), "The subject is required.", "subject"),
    "numeric custom_arg": (
        with_changes(personalizations=[{"to": [{"email": "a@x.org"}], "custom_args": {"n": 5}}]),
        "5 is not of type 'string'",
        "personalizations.0.custom_args.n",
    ),
    "custom_args over 10,000 bytes": (
        with_changes(custom_args={"k": "x" * 10_000}),
        "custom_args exceed 10,000 bytes",
        "personalizations.0",
    ),
    "substitutions over 10,000 bytes": (
        with_changes(
            personalizations=[{"to": [{"email": "a@x.org"}], "substitutions": {"-s-": "é" * 5_000}}]
        ),
        "substitutions exceed 10,000 bytes",
        "personalizations.0",
    ),
    "eleven categories": (
        with_changes(categories=[f"c{i}" for i in range(11)]),
        "is too long",
        "categories",
    ),
    "sandbox enable as a string": (
        with_changes(mail_settings={"sandbox_mode": {"enable": "true"}}),
        "'true' is not of type 'boolean'",
        "mail_settings.sandbox_mode.enable",
    ),
    "an address without @": (
        with_changes(personalizations=[{"to": [{"email": "nobody"}]}]),
        "'nobody' is not a 'email'",
        "personalizations.0.to.0.email",
    ),
    "a personalization without to": (
        with_changes(personalizations=[{"cc": [{"email": "a@example.org"}]}]),
        "'to' is a required property",
        "personalizations.0",
    ),
    "a reserved header": (
        with_changes(headers={"From": "x@example.org"}),
        "The From header cannot be set",
        "headers",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_malformed_bodies_are_refused_the_way_sendgrid_does(fake, case):
    body, message, field = REFUSED[case]
    status, answer, _ = post(fake, body)
    assert status == 400
    assert any(message in e["message"] and e["field"] == field for e in answer["errors"]), answer
    assert all(set(e) == {"message", "field", "help"} for e in answer["errors"])
    assert fake.accepted == [] and fake.rejected[0]["body"] == body


def test_a_wrong_key_gets_sendgrids_401(fake):
    status, answer, _ = post(fake, VALID, key="SG.wrong")
    assert status == 401
    assert answer == {"errors": [{"message": UNAUTHORIZED, "field": None, "help": None}]}
    assert fake.accepted == []


def test_a_wrong_path_is_a_404(fake):
    status, answer, _ = post(fake, VALID, path="/v3/mail/sned")
    assert status == 404 and answer["errors"][0]["message"] == "not found"


def test_scripted_rate_limit_carries_the_rate_limit_headers(fake):
    fake.fail_next(1, 429, reset_in=5)
    status, answer, headers = post(fake, VALID)
    assert status == 429
    assert answer == {"errors": [{"field": None, "message": "too many requests"}]}
    assert headers["X-RateLimit-Remaining"] == "0" and int(headers["X-RateLimit-Reset"]) > 0
    assert post(fake, VALID)[0] == 202  # only the next one was scripted
    with pytest.raises(ValueError):
        fake.fail_next(1, 418)


def mutations(seed: int = 4) -> Iterator[dict[str, Any]]:
    """Bodies of 3 personalizations with one value swapped for something of another kind."""
    rng = random.Random(seed)
    junk = ["", "x", "a@b", "@", "é" * 3, 0, 1, 2.5, 3.0, True, None, [], ["a"], {}, {"k": "v"}]
    base = with_changes(
        personalizations=[
            {
                "to": [{"email": f"r{i}@example.org", "name": "R"}],
                "from": {"email": "sales@example.org"},
                "cc": [{"email": f"c{i}@example.org"}],
                "subject": "S",
                "headers": {"List-Unsubscribe": "<https://x.example/u>"},
                "substitutions": {"-u-": "https://x.example/u"},
                "custom_args": {"id": str(i)},
                "send_at": 1_700_000_000,
            }
            for i in range(3)
        ]
    )
    yield base
    paths = [
        ("to",), ("to", 0), ("to", 0, "email"), ("to", 0, "name"), ("cc",), ("cc", 0, "email"),
        ("subject",), ("headers",), ("substitutions",), ("substitutions", "-u-"),
        ("custom_args",), ("custom_args", "id"), ("send_at",), ("from",), ("from", "email"),
    ]  # fmt: skip
    for _ in range(300):
        body = copy.deepcopy(base)
        node = body["personalizations"][rng.randrange(3)]
        *parents, last = rng.choice(paths)
        for key in parents:
            node = node[key]
        node[last] = copy.deepcopy(rng.choice(junk))
        yield body


def test_the_fast_path_reaches_the_same_verdict_as_full_validation():
    assert shape_is_enough()
    bodies = [VALID, *(body for body, _, _ in REFUSED.values()), *mutations()]
    verdicts = [validator().is_valid(body) for body in bodies]
    assert [fast_is_valid(body) for body in bodies] == verdicts
    assert 50 < verdicts.count(False) < len(bodies) - 50  # both kinds well represented


def test_a_fast_fake_gives_the_same_answers(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeSendGrid(fast=True) as fast:
        assert post(fast, VALID)[0] == 202
        for body, message, field in REFUSED.values():
            status, answer, _ = post(fast, body)
            assert status == 400
            assert any(message in e["message"] and e["field"] == field for e in answer["errors"])
