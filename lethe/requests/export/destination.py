"""Where exports are delivered: a local folder, or an fsspec URL such as ``s3://bucket/prefix``.

A folder gets the export through a locked part file renamed into place (``lethe.requests.export.part``). A
URL gets it streamed: the zip (encrypted as it is written when there is a passphrase) goes straight into the
remote file, never through the local disk, and is committed only once whole; a failed write is discarded
(``autocommit=False`` where the filesystem has it, e.g. S3's multipart upload is aborted). The SHA-256 and
size of what was delivered are counted on the way out, so nothing is read back.

Export file names are ``export-<subject kind>-<UTC time>-<random>.zip[.enc]``: ``exported_at`` reads the time
back from a name, so the clean-up (``lethe.requests.export.cleanup``) needs no file dates, which object
stores keep differently.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from lethe.errors import LetheError

_NAME = re.compile(r"^export-[A-Za-z0-9_.-]+-(\d{8}T\d{6}Z)-[0-9a-f]{8}\.zip(\.enc)?$")


class DestinationError(LetheError):
    """The export destination cannot be reached, listed or written (the message never holds a value)."""


def is_url(target: str) -> bool:
    """True when ``target`` is an fsspec URL (``scheme://...``) rather than a local folder."""
    return "://" in target and not target.startswith("file://")


def exported_at(name: str) -> datetime | None:
    """The UTC time an export file's name carries, or None when the name is not an export's."""
    match = _NAME.match(name)
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if match else None


class CountingWriter:
    """A write-only, unseekable stream passing bytes to ``out`` while counting their size and SHA-256.

    Without ``tell`` or ``seek`` it makes ``zipfile`` write in one pass (sizes in data descriptors).
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        """Pass ``data`` on and count it."""
        self.sha256.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here."""

    def close(self) -> None:
        """Closed by ``Destination.output``, which commits the file."""


@dataclass(frozen=True)
class Destination:
    """An export destination: ``target`` is a folder or a URL; ``options`` are its fsspec options."""

    target: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        """True for a URL (written through fsspec), False for a local folder."""
        return is_url(self.target)

    @property
    def folder(self) -> Path:
        """The local folder (``file://`` stripped)."""
        return Path(self.target.removeprefix("file://"))

    def location(self, name: str) -> str:
        """Where the file ``name`` is (or would be): a URL, or a local path."""
        if self.remote:
            return self.target.rstrip("/") + "/" + name
        return str(self.folder / name)

    def _filesystem(self) -> tuple[Any, str]:
        """(fsspec filesystem, path of the target in it)."""
        import fsspec

        try:
            return fsspec.core.url_to_fs(self.target, **self.options)
        except (ImportError, ValueError) as exc:
            raise DestinationError(
                f"cannot open the export destination's filesystem ({type(exc).__name__}: install s3fs for s3://)"
            ) from None

    @contextmanager
    def output(self, name: str) -> Iterator[CountingWriter]:
        """A stream into the remote file ``name``, committed when the block ends, discarded on failure."""
        fs, root = self._filesystem()
        path = root.rstrip("/") + "/" + name
        try:
            try:
                handle = fs.open(path, "wb", autocommit=False)
            except TypeError:  # a filesystem without deferred commits: removed on failure below
                handle = fs.open(path, "wb")
        except Exception as exc:
            raise DestinationError(f"cannot write to the export destination ({type(exc).__name__})") from None
        committed = False
        try:
            writer = CountingWriter(handle)
            yield writer
            handle.close()
            if not getattr(handle, "autocommit", True):
                handle.commit()
            committed = True
        except Exception as exc:
            if isinstance(exc, LetheError):
                raise
            raise DestinationError(f"cannot write to the export destination ({type(exc).__name__})") from None
        finally:
            if not committed:
                self._discard(fs, handle, path)

    @staticmethod
    def _discard(fs: Any, handle: Any, path: str) -> None:
        """Drop a half-written remote file, whichever way its filesystem allows."""
        discard = getattr(handle, "discard", None)
        try:
            if callable(discard) and not getattr(handle, "autocommit", True):
                discard()
                handle.closed = True  # nothing to flush: the upload was aborted
            else:
                handle.close()
                fs.rm(path)
        except Exception:
            pass

    def exports(self) -> list[tuple[str, int]]:
        """The export files at the destination: (name, size in bytes), by name."""
        if not self.remote:
            folder = self.folder
            if not folder.is_dir():
                return []
            return sorted((p.name, p.stat().st_size) for p in folder.iterdir() if exported_at(p.name))
        fs, root = self._filesystem()
        try:
            listed = fs.ls(root.rstrip("/"), detail=True, refresh=True)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise DestinationError(f"cannot list the export destination ({type(exc).__name__})") from None
        found = []
        for item in listed:
            name = str(item["name"]).rstrip("/").rsplit("/", 1)[-1]
            if exported_at(name):
                found.append((name, int(item.get("size") or 0)))
        return sorted(found)

    def delete(self, name: str) -> None:
        """Delete the export file ``name`` (refused for a name that is not an export's)."""
        if exported_at(name) is None:
            raise DestinationError("refusing to delete a file that is not a Lethe export")
        if not self.remote:
            (self.folder / name).unlink(missing_ok=True)
            return
        fs, root = self._filesystem()
        try:
            fs.rm(root.rstrip("/") + "/" + name)
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise DestinationError(
                f"cannot delete from the export destination ({type(exc).__name__})"
            ) from None
