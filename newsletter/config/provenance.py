"""Where each setting's value comes from: the environment, the settings file, or the default.

Read the way ``Settings`` reads them (``settings_customise_sources``): an environment variable
``NEWSLETTER_<NAME>`` (any letter case, as pydantic-settings matches them) wins over a key of the
TOML file (``newsletter.toml`` or ``$NEWSLETTER_CONFIG``), which wins over the default. Found by
looking, not guessed: the variable is present, the key is in the file. The file is read now, so
an edit since the server started shows here before the server uses it (the page says so).

Secrets (``SecretStr`` settings, and any whose name says key, password, secret or token) are
never shown: only whether they are set. A database URL is shown with its password hidden.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from newsletter.config import CONFIG_ENV, Settings, config_file

DEFAULT, FILE, ENVIRONMENT = "default", "settings file", "environment"
PREFIX = "NEWSLETTER_"
_SECRET_NAME = re.compile(r"key|password|secret|token", re.IGNORECASE)


@dataclass(frozen=True)
class Origin:
    name: str
    value: str  # as shown: secrets as "set" / "not set"
    source: str  # DEFAULT, FILE or ENVIRONMENT
    where: str  # the variable's name, or the file's path; "" for the default
    secret: bool
    description: str


def file_keys(path: Path) -> set[str]:
    """The top-level keys of the settings file (none if it is missing or unreadable)."""
    try:
        return set(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return set()


def _env_names() -> dict[str, str]:
    return {name.lower(): name for name in os.environ}


URL_SETTINGS = ("database_url", "rate_limit_storage_url")  # may hold a password


def masked_url(url: str) -> str:
    """A URL as shown: its password as ***, its query (which may name a password) as ?***.
    Everything before the last ``@`` is the user part, so an unescaped ``@`` or ``/`` in a
    password is hidden too."""
    base, question, _ = url.partition("?")
    query = "?***" if question else ""
    scheme, sep, rest = base.partition("://")
    if not sep or "@" not in rest:
        return base + query
    userinfo, host = rest.rsplit("@", 1)
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user + ':' if colon else ''}***@{host}{query}"


def is_secret(name: str, value: object) -> bool:
    return isinstance(value, SecretStr) or bool(_SECRET_NAME.search(name))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {
            k: ("(set)" if v else "(not set)") if is_secret(str(k), v) else _plain(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def shown(name: str, value: Any) -> str:
    """How a setting's value is shown to staff."""
    if is_secret(name, value):
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return "set" if raw else "not set"
    if name in URL_SETTINGS:
        return masked_url(str(value))
    plain = _plain(value)
    if isinstance(plain, dict | list):
        return json.dumps(plain, ensure_ascii=False)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    return "(empty)" if plain in ("", None) else str(plain)


def origins(settings: Settings) -> list[Origin]:
    """Every setting, in the order ``Settings`` declares them."""
    path = config_file()
    in_file, env = file_keys(path), _env_names()
    found = []
    for name, field in Settings.model_fields.items():
        variable = env.get(f"{PREFIX}{name}".lower())
        if variable is not None:
            source, where = ENVIRONMENT, variable
        elif name in in_file:
            source, where = FILE, str(path)
        else:
            source, where = DEFAULT, ""
        value = getattr(settings, name)
        found.append(
            Origin(
                name=name,
                value=shown(name, value),
                source=source,
                where=where,
                secret=is_secret(name, value),
                description=field.description or "",
            )
        )
    return found


def file_in_use() -> tuple[str, bool, bool]:
    """(the settings file's path, does it exist, was it named by ``NEWSLETTER_CONFIG``)."""
    path = config_file()
    return str(path), path.is_file(), CONFIG_ENV in os.environ
