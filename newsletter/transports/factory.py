"""Build the transport the settings name. Entry points (cli, web) call this; nothing else does.

Takes anything with the transport settings as attributes (``Settings`` does), so transports
stay independent of ``newsletter.config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from newsletter.errors import ConfigError
from newsletter.transports.base import Transport
from newsletter.transports.outbox import OutboxTransport

NAMES = ("outbox",)


class TransportSettings(Protocol):
    @property
    def transport(self) -> str: ...

    @property
    def outbox_dir(self) -> Path: ...


def make_transport(settings: TransportSettings) -> Transport:
    if settings.transport == "outbox":
        return OutboxTransport(settings.outbox_dir)
    raise ConfigError(
        f"unknown transport {settings.transport!r}: the setting transport must be one of "
        + ", ".join(NAMES)
    )
