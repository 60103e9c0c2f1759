"""Files written whole: a reader (cron, git, a text editor, another process) sees the old file or
the new one, never half of either. Used by the outbox, the dashboard's issue and post saves."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path


def write_whole(target: Path, data: bytes) -> None:
    """``target`` appears whole or not at all: a hidden temporary file beside it, fsync, rename.
    On any error the temporary file is removed."""
    temporary = target.with_name(f".{target.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        temporary.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def sync_folder(folder: Path) -> None:
    """Make the renames durable; a file system that cannot fsync a folder is left as it is."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(descriptor)


def replace_text(target: Path, text: str) -> None:
    """``target`` replaced by ``text`` (UTF-8) whole, and the rename made durable."""
    write_whole(target, text.encode("utf-8"))
    sync_folder(target.parent)
