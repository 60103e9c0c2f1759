"""Importing a library without the part of it this process never runs.

Two libraries import, at their top, a module only one function of theirs uses, which we never
call: premailer imports ``requests`` to download ``<link>`` stylesheets (the compiler passes
``allow_network=False``), pydantic-settings imports ``asyncio`` (and with it ``ssl``) for its
``CliApp``. Every command pays for the settings, and a cold ``newsletter build`` for premailer.
``deferred(name)`` puts a stand-in module in ``sys.modules`` while such a library is imported,
and leaves it there: the real module is imported the first time anything reads an attribute of
it (``requests.get``, ``from requests import Session``, ``import requests.adapters``), so code
that does use requests later in the same process gets the real thing, only later. Where the
real module is already imported, nothing is done.

(``importlib.util.LazyLoader`` cannot do this on Python 3.11: the ``import`` statement itself
reads the module's ``__spec__``, which makes LazyLoader load it.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class DeferredModule(types.ModuleType):
    """Stands in for a module until an attribute of it is first read."""

    def __getattr__(self, attribute: str) -> Any:
        # only called for what the stand-in does not have: import the real module once, make
        # it the one in sys.modules, and give the stand-in its namespace for those holding it
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, attribute)


@contextmanager
def deferred(name: str) -> Iterator[None]:
    """While the block imports something that imports ``name``, ``name`` is a stand-in."""
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = DeferredModule(name)
    yield
