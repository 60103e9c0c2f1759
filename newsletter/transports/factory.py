"""Build the transport the settings name. Entry points (cli, web) call this; nothing else does.

Takes anything with the transport settings as attributes (``Settings`` does), so transports
stay independent of ``newsletter.config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from newsletter.errors import ConfigError
from newsletter.transports.base import Transport
from newsletter.transports.outbox import OutboxTransport

NAMES = ("outbox", "sendgrid")


class TransportSettings(Protocol):
    @property
    def transport(self) -> str: ...
    @property
    def outbox_dir(self) -> Path: ...
    @property
    def sendgrid_api_key(self) -> SecretStr: ...
    @property
    def sendgrid_host(self) -> str: ...
    @property
    def sendgrid_timeout(self) -> float: ...
    @property
    def sendgrid_batch_size(self) -> int: ...
    @property
    def sendgrid_sandbox(self) -> bool: ...
    @property
    def sendgrid_asm_group_id(self) -> int | None: ...
    @property
    def sendgrid_categories(self) -> Sequence[str]: ...


def make_transport(settings: TransportSettings) -> Transport:
    if settings.transport == "outbox":
        return OutboxTransport(settings.outbox_dir)
    if settings.transport == "sendgrid":
        from newsletter.transports.sendgrid import SendGridTransport

        return SendGridTransport(
            settings.sendgrid_api_key.get_secret_value(),
            host=settings.sendgrid_host,
            timeout=settings.sendgrid_timeout,
            max_batch=settings.sendgrid_batch_size,
            sandbox=settings.sendgrid_sandbox,
            asm_group_id=settings.sendgrid_asm_group_id,
            categories=settings.sendgrid_categories,
        )
    raise ConfigError(
        f"unknown transport {settings.transport!r}: the setting transport must be one of "
        + ", ".join(NAMES)
    )
