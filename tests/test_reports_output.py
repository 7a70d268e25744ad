"""Files the tool writes never follow a link planted in the output folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from delegation_reports.errors import UserError
from delegation_reports.reports.output import copy_file, replacing, write_file
from delegation_reports.reports.pdf import print_pdf
from delegation_reports.reports.runner import PLOTLY_FILE, write_shared_plotly


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside the output folder that a planted link points to."""
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_text("precious", encoding="utf-8")
    return path


@pytest.fixture
def out(tmp_path) -> Path:
    folder = tmp_path / "out" / "2026-03"
    folder.mkdir(parents=True)
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_the_file_and_leaves_no_temporary_file(out):
    target = out / "index.html"
    write_file(target, "<p>é</p>")
    write_file(target, b"second")
    assert target.read_bytes() == b"second"
    assert _files(out) == ["index.html"]
    # Owner-only, whatever the umask: reports hold health data and names.
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)


def test_a_link_at_the_old_temporary_name_is_not_followed(out, victim):
    planted = out / ".index.html.tmp"
    planted.symlink_to(victim)
    write_file(out / "index.html", "report")
    assert victim.read_text(encoding="utf-8") == "precious"
    assert planted.is_symlink() and os.readlink(planted) == str(victim)
    assert (out / "index.html").read_text(encoding="utf-8") == "report"
    assert not (out / "index.html").is_symlink()


def test_a_link_at_the_final_name_is_refused(out, victim):
    target = out / "C52249671000024.html"
    target.symlink_to(victim)
    with pytest.raises(UserError, match=r"C52249671000024\.html is a symbolic link"):
        write_file(target, "report")
    assert victim.read_text(encoding="utf-8") == "precious"
    assert target.is_symlink()
    assert _files(out) == ["C52249671000024.html"]


def test_shared_plotly_refuses_a_planted_link(out, victim):
    (out / PLOTLY_FILE).symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        write_shared_plotly(out)
    assert victim.read_text(encoding="utf-8") == "precious"


def test_kept_notebook_copy_refuses_a_planted_link(out, victim, tmp_path):
    source = tmp_path / "executed.ipynb"
    source.write_text("{}", encoding="utf-8")
    (out / "executed.ipynb").symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        copy_file(source, out / "executed.ipynb")
    assert victim.read_text(encoding="utf-8") == "precious"


def test_pdf_refuses_a_planted_link_before_printing(out, victim):
    html = out / "report.html"
    html.write_text("<p>report</p>", encoding="utf-8")
    (out / "report.pdf").symlink_to(victim)
    with pytest.raises(UserError, match=r"report\.pdf is a symbolic link"):
        print_pdf(html, out / "report.pdf")
    assert victim.read_text(encoding="utf-8") == "precious"


def test_a_failed_writer_leaves_the_previous_file_and_no_temporary_file(out):
    target = out / "report.pdf"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), replacing(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("printer crashed")
    assert target.read_bytes() == b"previous"
    assert _files(out) == ["report.pdf"]


def test_a_link_planted_while_writing_is_refused(out, victim):
    target = out / "index.html"
    with pytest.raises(UserError, match="symbolic link"), replacing(target) as temporary:
        temporary.write_text("report", encoding="utf-8")
        target.symlink_to(victim)
    assert victim.read_text(encoding="utf-8") == "precious"
    assert _files(out) == ["index.html"]
