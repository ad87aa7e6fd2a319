"""Part files: where an export (or a decryption) is written before it is renamed into place.

A part file is private (mode 0600), named ``.lethe-<random>.part`` in the folder of its target, and holds an
exclusive ``flock`` for as long as it is written. A process killed mid-write cannot remove its part, but the
kernel releases its lock: ``remove_stale_parts`` deletes every part nobody holds, so the next export in the
folder cleans up after a crashed one without touching a part another export is still writing.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

PREFIX, SUFFIX = ".lethe-", ".part"


def _locked_part(folder: Path) -> tuple[int, Path]:
    """A new part file in ``folder``, open and locked; (descriptor, path)."""
    while True:
        fd, name = tempfile.mkstemp(dir=folder, prefix=PREFIX, suffix=SUFFIX)  # mode 0600
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A sweep may have locked and unlinked it between mkstemp and flock: then take another one.
        if os.fstat(fd).st_nlink:
            return fd, Path(name)
        os.close(fd)


@contextmanager
def part_file(target: Path) -> Iterator[BinaryIO]:
    """A locked part file beside ``target``, renamed onto it on success, removed on failure."""
    fd, temp = _locked_part(target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            os.replace(temp, target)  # before the close releases the lock
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def remove_stale_parts(folder: Path) -> int:
    """Delete the part files in ``folder`` that no process is writing; return how many were removed."""
    removed = 0
    for path in folder.glob(f"{PREFIX}*{SUFFIX}"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # gone meanwhile, a symbolic link, or not ours to read: left alone
        try:
            with suppress(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_nlink and os.path.samestat(os.fstat(fd), os.lstat(path)):
                    path.unlink()
                    removed += 1
        except OSError:
            pass  # removed by another sweep meanwhile
        finally:
            os.close(fd)
    return removed
