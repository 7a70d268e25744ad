"""Writing the files the tool produces (reports, indexes, PDFs, evidence files, shared
plotly.js, kept notebooks) without following a link planted in the output folder.

Every file is first written to a temporary file created exclusively, under an unpredictable
name, in the target's own folder, then renamed over the target. A target that is a symbolic
link is refused: writing through it would overwrite whatever it points to.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import UserError

# Files are created readable as the user's umask allows, like a plain open() would do
# (mkstemp creates them readable by the owner only).
_UMASK = os.umask(0)
os.umask(_UMASK)


def refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise UserError(
            f"{path} is a symbolic link: refusing to write through it "
            "(remove the link or choose another output folder)"
        )


def output_folder(folder: Path) -> Path:
    """``folder``, created if missing, once a file could be created in it: a folder that
    cannot be written (missing parent that cannot be made, no permission, read-only file
    system, full disk) is refused with the reason before any report is made."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
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
        os.fchmod(handle, 0o666 & ~_UMASK)
        os.close(handle)
        handle = -1
        refuse_link(path)
        os.replace(temporary, path)
    finally:
        if handle >= 0:
            os.close(handle)
        temporary.unlink(missing_ok=True)


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
