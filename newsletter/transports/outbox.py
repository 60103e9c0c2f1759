"""``OutboxTransport``: every recipient's message as a real RFC 5322 ``.eml`` file.

The default transport, for trying things out and for tests: the files carry the same headers
SendGrid would get (From with display name, To, Subject, Reply-To, Date, Message-ID, the
message's and the recipient's own headers such as ``List-Unsubscribe``), with the recipient's
substitutions applied, as ``multipart/alternative`` (plain text, then HTML). Categories and
custom args, which SendGrid keeps outside the message, are written as ``X-Categories`` and
``X-Custom-Args`` (JSON) so they can be inspected.

Exactly once per recipient of a send: each message is named by its ``delivery_key`` (send and
ledger row, ``<send started>-send<id>-delivery<id>.eml``), written to a hidden temporary file in
the same folder, flushed to disk (fsync) and renamed into place, so a reader never sees half a
message and a file of that name is a whole message. A message whose file already exists was
delivered by an earlier run: it is counted as accepted and not written again, so rerunning a
send after any failure (a full disk, a crash) never writes a second message for anyone.
Temporary files a crash left behind are not ``.eml`` files, and are removed once an hour old.
Messages outside a send (confirmation emails) have no key: they get a fresh time-stamped name.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import re
import secrets
import time
from datetime import UTC, datetime
from email import policy
from email.charset import BASE64, Charset
from email.header import Header
from email.message import Message as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

from newsletter.files import sync_folder, write_whole
from newsletter.transports.base import BatchResult, DeliveryError, Message, Recipient, substitute

# CRLF line ends; no folding below RFC 5322's 998-character line limit, so a long
# List-Unsubscribe URL stays on its header's line, exactly as SendGrid would send it.
CRLF = policy.compat32.clone(linesep="\r\n", mangle_from_=False, max_line_length=998)
UTF8 = Charset("utf-8")
UTF8.header_encoding = BASE64  # for non-ASCII names and subjects; bodies are base64 too
_NO_HEADER = frozenset({"from", "to", "subject", "reply-to", "date", "message-id"})
SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,150}")
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
STALE_TEMPORARY = 3600.0  # seconds: a temporary file this old was left by a crash


def check_header(name: str, value: str) -> None:
    """Refuse header injection: no CR or LF in any header name or value."""
    if any(c in name or c in value for c in "\r\n") or not name.strip():
        raise DeliveryError(f"header {name!r} contains a line break; refused")


class OutboxTransport:
    max_batch = 1000

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)
        self._swept = False

    def send(self, message: Message) -> BatchResult:
        batch = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}"
        targets = [self._target(r, batch, n) for n, r in enumerate(message.recipients)]
        target, done = self.outbox_dir, 0
        try:
            # a file named by the delivery is a message an earlier run wrote whole: not again
            todo = [
                (target, recipient)
                for target, recipient in zip(targets, message.recipients, strict=True)
                if not (recipient.delivery_key and target.exists())
            ]
            built = [(target, self.build(message, r)) for target, r in todo]  # all or none
            done = len(targets) - len(built)
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            self._sweep()
            for target, email in built:
                write_whole(target, email.as_bytes(policy=CRLF))
                done += 1
            sync_folder(self.outbox_dir)
        except OSError as exc:
            keyed = all(r.delivery_key for r in message.recipients)
            raise _write_error(exc, target, done if keyed else None) from exc
        return BatchResult(accepted=[r.email for r in message.recipients], message_id=batch)

    def _target(self, recipient: Recipient, batch: str, number: int) -> Path:
        key = recipient.delivery_key
        if not key:
            return self.outbox_dir / f"{batch}-{number:04d}.eml"
        if not SAFE_KEY.fullmatch(key):
            raise DeliveryError(f"delivery key {key[:80]!r} cannot be a file name; refused")
        return self.outbox_dir / f"{key}.eml"

    def _sweep(self) -> None:
        """Remove temporary files an interrupted run left, once they are an hour old (a write
        in progress takes milliseconds; younger ones may be another process's)."""
        if self._swept:
            return
        self._swept = True
        cutoff = time.time() - STALE_TEMPORARY
        with os.scandir(self.outbox_dir) as entries:
            for entry in entries:
                if not entry.name.endswith(".tmp"):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        Path(entry.path).unlink()

    def build(self, message: Message, recipient: Recipient) -> MimeMessage:
        """The RFC 5322 message for one recipient; DeliveryError on a header with CR/LF.

        Built with ``email.mime`` (the compat32 API): the ``EmailMessage`` API parses every
        header it is given and made this four times slower (bench/signup.py).
        """
        subject = substitute(message.subject, recipient.substitutions)
        fields = [
            ("From", _address(message.from_name, message.from_email)),
            ("To", _address(recipient.name, recipient.email)),
            ("Subject", _encoded(subject)),
        ]
        if message.reply_to:
            fields.append(("Reply-To", _address("", message.reply_to)))
        fields.append(("Date", format_datetime(datetime.now(UTC))))
        fields.append(("Message-ID", make_msgid(domain=_domain(message.from_email))))
        for name, value in [*message.headers.items(), *recipient.headers.items()]:
            check_header(name, value)
            if name.lower() in _NO_HEADER:
                raise DeliveryError(f"header {name!r} is set by the transport; refused")
            fields.append((name, _encoded(value)))
        if message.categories:
            fields.append(("X-Categories", json.dumps(list(message.categories))))
        custom = {**message.custom_args, **recipient.custom_args}
        if custom:
            fields.append(("X-Custom-Args", json.dumps(custom, sort_keys=True)))
        # "=_" cannot occur in base64, so the boundary needs no search through the bodies
        email = MIMEMultipart("alternative", boundary=f"=_{secrets.token_hex(16)}")
        for name, value in fields:
            email[name] = value
        for body, subtype in ((message.text, "plain"), (message.html, "html")):
            email.attach(_part(substitute(body, recipient.substitutions), subtype))
        return email


def _write_error(exc: OSError, target: Path, done: int | None) -> DeliveryError:
    """A full disk stops the send (retrying cannot help) and says what to do; anything else
    may pass, so it is retried. ``done``: this batch's messages already in the outbox, for a
    batch of a send (whose messages are written once), None otherwise."""
    kept = "" if done is None else f"; {done} messages already written will not be written twice"
    if exc.errno in DISK_FULL:
        again = "run the same command again" if done is not None else "try again"
        if exc.errno == errno.EFBIG:
            what = f"file size limit reached writing {target}: raise it (ulimit -f) and {again}"
        else:
            what = f"disk full writing {target}: free space and {again}"
        return DeliveryError(what + kept, fatal=True)
    return DeliveryError(f"cannot write {target}: {exc.strerror or exc}{kept}", retryable=True)


def _part(body: str, subtype: str) -> MIMENonMultipart:
    """A UTF-8 text part, base64-encoded in C (``MIMEText`` encodes line by line in Python)."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(base64.encodebytes(body.encode("utf-8")).decode("ascii"))
    part["Content-Transfer-Encoding"] = "base64"
    return part


def _domain(address: str) -> str | None:
    return address.rpartition("@")[2] or None


def _encoded(value: str) -> str:
    """A header value; non-ASCII text as an RFC 2047 encoded word."""
    check_header("header", value)
    if value.isascii():
        return value
    return Header(value, UTF8).encode()


def _address(name: str, address: str) -> str:
    check_header("address", name + address)
    if not address or "@" not in address or any(c in address for c in ' <>,;"\t'):
        raise DeliveryError(f"{address!r} is not an address a message can go to")
    return formataddr((name, address), charset=UTF8)
