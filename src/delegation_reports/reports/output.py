"""Writing the files the tool produces (reports, indexes, PDFs, evidence files, shared
plotly.js, kept notebooks) without following a link planted in the output folder, readable by
their owner only.

Every file is first written to a temporary file created exclusively, under an unpredictable
name, in the target's own folder, then renamed over the target. A target that is a symbolic
link is refused: writing through it would overwrite whatever it points to. Reports hold
health data and names: files are made 0600 and the folders the tool creates 0700, whatever
the umask.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import UserError

FILE_MODE = 0o600
FOLDER_MODE = 0o700
# The lists of `recording` blocks in progress: each gets the path of every file written.
_RECORDERS: list[list[Path]] = []


def refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise UserError(
            f"{path} is a symbolic link: refusing to write through it "
            "(remove the link or choose another output folder)"
        )


def private_folder(path: Path) -> Path:
    """``path`` as a folder, created with its missing parents readable by the owner only;
    made so too when it exists and is the user's (a folder of reports written before)."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
    refuse_link(path)
    if path.stat().st_uid == os.getuid():
        path.chmod(FOLDER_MODE)
    return path


def output_folder(folder: Path) -> Path:
    """``folder``, made private (``private_folder``), once a file could be created in it: a
    folder that cannot be written (missing parent that cannot be made, no permission,
    read-only file system, full disk) is refused with the reason before any report is made."""
    folder = Path(folder)
    try:
        private_folder(folder)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-check-") as probe:
            probe.write(b"0")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserError(
            f"cannot write to the output folder {folder}: {reason} (choose another with --out)"
        ) from None
    return folder


@contextmanager
def _temporary(path: Path) -> Iterator[tuple[int, Path]]:
    """An open descriptor on a new temporary file beside ``path``; the file replaces ``path``
    when the block ends without error, and is removed otherwise."""
    path = Path(path)
    refuse_link(path)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        yield handle, temporary
        os.close(handle)
        handle = -1
        # By name: an outside writer (Chromium) may have replaced the file it was given.
        refuse_link(temporary)
        os.chmod(temporary, FILE_MODE)
        refuse_link(path)
        os.replace(temporary, path)
        for written in _RECORDERS:
            written.append(path)
    finally:
        if handle >= 0:
            os.close(handle)
        temporary.unlink(missing_ok=True)


@contextmanager
def recording() -> Iterator[list[Path]]:
    """A list that receives the path of every file this module writes inside the block: what
    a report run produced, for its manifest."""
    written: list[Path] = []
    _RECORDERS.append(written)
    try:
        yield written
    finally:
        _RECORDERS.remove(written)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A new temporary file beside ``path`` for an outside writer (Chromium printing a PDF) to
    fill by name; it replaces ``path`` when the block ends without error."""
    with _temporary(path) as (_, temporary):
        yield temporary


@contextmanager
def open_replacing(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` bit by bit (a large file streamed as it is made): a
    new temporary file beside it, which replaces ``path`` when the block ends without
    error."""
    with _temporary(path) as (handle, _):
        # The descriptor stays open for _temporary to set its mode and close it.
        stream = os.fdopen(os.dup(handle), "wb")
        try:
            yield stream
        finally:
            stream.close()


def write_file(path: Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8) to ``path`` through a temporary file beside it."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with _temporary(path) as (handle, _):
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]
    return path


def copy_file(source: Path, path: Path) -> Path:
    return write_file(path, Path(source).read_bytes())
