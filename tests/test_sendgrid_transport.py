"""SendGridTransport with the real sendgrid SDK against the validating fake SendGrid on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from python_http_client.exceptions import BadRequestsError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail

from newsletter.errors import ConfigError
from newsletter.sending.retrying import with_retries
from newsletter.transports.base import DeliveryError, Message, Recipient
from newsletter.transports.sendgrid import SendGridTransport
from tests.fake_sendgrid import UNAUTHORIZED, UNVERIFIED, FakeSendGrid

SENDER = "newsletter@mpat.example.org"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSendGrid]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # urllib honours proxy variables
    with FakeSendGrid(verified_senders=[SENDER]) as server:
        yield server


def transport(fake: FakeSendGrid, **options) -> SendGridTransport:
    return SendGridTransport(fake.api_key, host=fake.url, **{"timeout": 10, **options})


def recipient(i: int) -> Recipient:
    url = f"https://news.example.org/unsubscribe/tok{i}"
    return Recipient(
        email=f"reader{i}@example.org",
        name=f"Reader {i}",
        substitutions={"%%unsubscribe_url%%": url, "%%name%%": f"Reader {i}"},
        headers={
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        custom_args={"send_id": "7", "subscriber_id": str(i)},
    )


def message(count: int = 3, start: int = 0, **fields) -> Message:
    values = {
        "subject": "MPAT newsletter, Q3 2016",
        "html": '<p>Hello %%name%%</p><a href="%%unsubscribe_url%%">Unsubscribe</a>',
        "text": "Hello %%name%%\n\nUnsubscribe: %%unsubscribe_url%%\n",
        "from_email": SENDER,
        "from_name": "MPAT Newsletter",
        "recipients": [recipient(i) for i in range(start, start + count)],
        **fields,
    }
    return Message(**values)


def test_a_thousand_recipients_go_in_one_request_each_with_its_own_headers(fake):
    batch = message(1000)
    result = transport(fake).send(batch)

    assert fake.requests == 1
    (request,) = fake.accepted
    assert request.status == 202
    assert result.message_id == request.message_id and result.message_id
    assert list(result.accepted) == [f"reader{i}@example.org" for i in range(1000)]
    assert request.recipients == list(result.accepted)  # order kept, nobody twice
    body = request.body
    assert body["content"] == [
        {"type": "text/plain", "value": batch.text},
        {"type": "text/html", "value": batch.html},
    ]
    for i, entry in enumerate(body["personalizations"]):
        url = f"https://news.example.org/unsubscribe/tok{i}"
        assert entry["to"] == [{"email": f"reader{i}@example.org", "name": f"Reader {i}"}]
        assert entry["headers"]["List-Unsubscribe"] == f"<{url}>"
        assert entry["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert entry["substitutions"]["%%unsubscribe_url%%"] == url
        assert entry["custom_args"] == {"send_id": "7", "subscriber_id": str(i)}


def test_the_fake_rejects_a_numeric_custom_arg_and_the_transport_never_sends_one(fake):
    raw = Mail(from_email=SENDER, to_emails="a@example.org", subject="s", plain_text_content="t")
    raw.custom_arg = CustomArg("subscriber_id", 5)  # the SDK helper passes the number through
    client = SendGridAPIClient(api_key=fake.api_key, host=fake.url)
    with pytest.raises(BadRequestsError) as raised:
        client.send(raw)
    assert raised.value.to_dict["errors"][0]["field"] == "custom_args.subscriber_id"

    numbers = Recipient(email="b@example.org", custom_args={"subscriber_id": 5, "ratio": 0.5})  # type: ignore[dict-item]  # wrong on purpose
    transport(fake).send(message(recipients=[numbers], custom_args={"send_id": 7}))
    (request,) = fake.accepted
    assert request.body["custom_args"] == {"send_id": "7"}
    assert request.body["personalizations"][0]["custom_args"] == {
        "subscriber_id": "5",
        "ratio": "0.5",
    }


def test_a_body_sendgrid_refuses_is_a_400_with_its_message(fake):
    with pytest.raises(DeliveryError) as raised:
        transport(fake).send(message(reply_to="not-an-address"))
    error = raised.value
    assert (error.status, error.retryable, error.fatal, error.uncertain) == (
        400,
        False,
        False,
        False,
    )
    assert "reply_to.email" in str(error) and "is not a 'email'" in str(error)
    assert fake.recipients() == []


def test_a_wrong_api_key_stops_the_send(fake):
    wrong = SendGridTransport("SG.wrong", host=fake.url, timeout=10)
    with pytest.raises(DeliveryError) as raised:
        with_retries(lambda: wrong.send(message()), attempts=5, base_delay=0, max_delay=0)
    assert raised.value.fatal and raised.value.status == 401
    assert not raised.value.retryable
    assert "SendGrid rejected the API key" in str(raised.value)
    assert UNAUTHORIZED in str(raised.value)
    assert fake.unauthorized == 1  # tried once: a 401 is never retried
    assert fake.requests == 0


def test_an_unverified_sender_stops_the_send_with_sendgrids_reason(fake):
    with pytest.raises(DeliveryError) as raised:
        transport(fake).send(message(from_email="someone@elsewhere.example"))
    assert raised.value.fatal and raised.value.status == 403
    assert UNVERIFIED in str(raised.value) and "from:" in str(raised.value)
    assert fake.recipients() == []


def test_429_waits_until_the_rate_limit_resets(fake):
    fake.fail_next(2, 429, reset_in=3)
    waits: list[float] = []
    retries: list[int] = []
    result = with_retries(
        lambda: transport(fake).send(message(5)),
        attempts=5,
        base_delay=0.01,
        max_delay=0.05,
        sleep=waits.append,
        on_retry=lambda error, attempt, delay: retries.append(error.status or 0),
    )
    assert retries == [429, 429]
    # X-RateLimit-Reset is 2-3 s ahead: honoured although max_delay is 0.05 s
    assert len(waits) == 2 and all(1.0 <= w <= 3.1 for w in waits)
    assert len(result.accepted) == 5
    assert fake.requests == 3
    assert fake.recipients() == [f"reader{i}@example.org" for i in range(5)]


def test_a_server_error_is_retried_and_everyone_gets_one_message(fake):
    fake.fail_next(1, 500)
    waits: list[float] = []
    with_retries(
        lambda: transport(fake).send(message(10)),
        attempts=3,
        base_delay=0.5,
        max_delay=1,
        sleep=waits.append,
    )
    assert len(waits) == 1 and 0 <= waits[0] <= 0.5
    assert sorted(fake.recipients()) == sorted(f"reader{i}@example.org" for i in range(10))


def test_retries_end_with_the_last_error(fake):
    fake.fail_next(3, 503)
    with pytest.raises(DeliveryError) as raised:
        with_retries(
            lambda: transport(fake).send(message()),
            attempts=3,
            base_delay=0,
            max_delay=0,
            sleep=lambda s: None,
        )
    assert raised.value.status == 503 and raised.value.retryable
    assert "service unavailable" in str(raised.value)
    assert fake.requests == 3 and fake.recipients() == []


def test_a_refused_connection_is_reported_as_such(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    closed = SendGridTransport("SG.key", host=host, timeout=5)
    tries: list[int] = []
    with pytest.raises(DeliveryError) as raised:
        with_retries(
            lambda: closed.send(message()),
            attempts=2,
            base_delay=0,
            max_delay=0,
            on_retry=lambda e, attempt, d: tries.append(attempt),
        )
    assert str(raised.value) == f"cannot connect to SendGrid at {host}: connection refused"
    assert raised.value.retryable and tries == [1]
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_no_answer_in_time_is_uncertain_and_not_resent(fake):
    fake.slow_next(1, 1.5)
    impatient = transport(fake, timeout=0.5)
    with pytest.raises(DeliveryError) as raised:
        with_retries(lambda: impatient.send(message(4)), attempts=5, base_delay=0, max_delay=0)
    error = raised.value
    assert error.uncertain and not error.retryable and not error.fatal
    assert "may have been accepted" in str(error)
    fake.wait_idle()
    assert fake.requests == 1  # never sent again...
    assert len(fake.recipients()) == 4  # ...and rightly so: SendGrid did accept it


def test_a_dropped_connection_after_sending_is_uncertain(fake):
    fake.drop_next(1)
    with pytest.raises(DeliveryError) as raised:
        transport(fake).send(message())
    assert raised.value.uncertain and not raised.value.retryable
    assert "broke before it answered" in str(raised.value)


def test_a_request_over_30_mb_is_refused_by_sendgrid_and_not_retried(fake):
    huge = "<p>" + "x" * (30 * 1024 * 1024) + "</p>"
    with pytest.raises(DeliveryError) as raised:
        with_retries(
            lambda: transport(fake).send(message(html=huge)),
            attempts=3,
            base_delay=0,
            max_delay=0,
        )
    assert raised.value.status == 413 and not raised.value.retryable
    assert "too large: content too large" in str(raised.value)
    assert fake.requests == 0 and fake.recipients() == []


def test_one_transport_can_be_shared_by_several_threads(fake):
    shared = transport(fake)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: shared.send(message(50, start=50 * n)), range(8)))
    assert len({r.message_id for r in results}) == 8
    assert sorted(fake.recipients()) == sorted(f"reader{i}@example.org" for i in range(400))


def test_sandbox_mode_is_validated_but_delivers_nothing(fake):
    result = transport(fake, sandbox=True).send(message(2))
    assert list(result.accepted) == ["reader0@example.org", "reader1@example.org"]
    assert result.message_id is None
    (request,) = fake.accepted
    assert request.status == 200
    assert request.body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert fake.recipients() == []  # nothing queued for delivery


def test_categories_and_unsubscribe_group_are_sent(fake):
    sender = transport(fake, categories=["newsletter"], asm_group_id=4242)
    sender.send(message(1, categories=["2016-q3", "newsletter"]))
    body = fake.accepted[0].body
    assert body["categories"] == ["newsletter", "2016-q3"]
    assert body["asm"] == {"group_id": 4242}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"subject": "Q3\r\nBcc: everyone@example.org"}, "subject contains a line break"),
        ({"headers": {"X-Campaign": "q3\nBcc: x@example.org"}}, "header X-Campaign"),
        ({"from_name": "MPAT\r\nNewsletter"}, "from: the name contains a line break"),
        ({"from_email": "newsletter"}, "from: 'newsletter' is not an email address"),
        ({"headers": {"Bad Name": "x"}}, "invalid header name"),
        ({"headers": {"Reply-To": "x@example.org"}}, "does not allow setting the Reply-To"),
    ],
)
def test_header_injection_is_refused_before_anything_is_sent(fake, fields, problem):
    with pytest.raises(DeliveryError) as raised:
        transport(fake).send(message(**fields))
    assert problem in str(raised.value) and not raised.value.retryable
    assert fake.requests == 0


def test_a_line_break_in_a_recipients_header_is_refused(fake):
    evil = Recipient(
        email="a@example.org",
        headers={"List-Unsubscribe": "<https://x.example/u>\r\nBcc: all@example.org"},
    )
    with pytest.raises(DeliveryError, match="line break"):
        transport(fake).send(message(recipients=[recipient(1), evil]))
    assert fake.requests == 0


def test_an_address_twice_in_one_request_is_refused(fake):
    twice = [recipient(1), Recipient(email="READER1@example.org")]
    with pytest.raises(DeliveryError, match="appears twice"):
        transport(fake).send(message(recipients=twice))
    assert fake.requests == 0


def test_non_string_custom_arg_keys_are_refused(fake):
    bad = Recipient(email="a@example.org", custom_args={1: "x"})  # type: ignore[dict-item]  # wrong on purpose
    with pytest.raises(DeliveryError, match="custom_args key 1"):
        transport(fake).send(message(recipients=[bad]))
    assert fake.requests == 0


def test_more_than_a_batch_is_never_sent_in_one_request(fake):
    with pytest.raises(DeliveryError, match="1001 recipients in one message; 1 to 1000"):
        transport(fake).send(message(1001))
    with pytest.raises(DeliveryError, match="251 recipients in one message; 1 to 250"):
        transport(fake, max_batch=250).send(message(251))
    assert fake.requests == 0
    with pytest.raises(ConfigError, match="1 to 1000"):
        transport(fake, max_batch=1001)


def test_bad_transport_settings_are_config_errors(fake):
    with pytest.raises(ConfigError, match="API key"):
        SendGridTransport("", host=fake.url)
    with pytest.raises(ConfigError, match="at most 10"):
        transport(fake, categories=[f"c{i}" for i in range(11)])
    with pytest.raises(ConfigError, match="US-ASCII"):
        transport(fake, categories=["événements"])
    with pytest.raises(ConfigError, match="http"):
        SendGridTransport("SG.key", host="api.sendgrid.com")
    with pytest.raises(ConfigError, match="positive"):
        transport(fake, asm_group_id=0)
