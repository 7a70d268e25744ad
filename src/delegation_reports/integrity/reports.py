"""Verifiable reports: the manifest of a report folder, its signature, and checking both.

Every report run (monthly batch, overview, history) records in ``manifest.json``, in the
folder it wrote to, each file it produced (path relative to the folder, sha256, size) and
what the run rested on: the warehouse chain head, the month, practices and parameters, the
package version, digests of the SQL models and of the notebooks, and when it ran.

Several runs write into the same folder (the monthly batch, then the overview, then a
practice again): the manifest lists every file some run recorded there, each with the run
that wrote it last, and the runs that still own a file. An entry is carried over unchanged
(never recomputed from the file on disk), so a file changed since its run still shows as
changed. Runs merge under an exclusive lock on the folder.

A monthly batch also records the outcome of each practice's report (``reports``: name,
counts of findings, whether it failed), merged the same way, the last run of a practice
winning. Files derived from the whole folder (the month's index) are written under the same
lock from the merged state, by whichever run comes last, and recorded as that run's.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path, PurePosixPath

import duckdb

from .. import __version__
from ..errors import ChainBroken, UserError
from ..reports import labels
from ..reports.output import write_file
from . import signing
from .chain import chain_head, check_head

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
SIGNATURE_FILE = MANIFEST_FILE + signing.SIGNATURE_SUFFIX
_OWN_FILES = frozenset({MANIFEST_FILE, SIGNATURE_FILE})


def report_chain_head(con) -> str | None:
    """The chain head a report shows in its data-quality section."""
    return chain_head(con)


def _oldest_trace_day(con):
    """The Paris day of the oldest trace kept: from the monthly days with traces (every
    covered month's kept up to date), not by scanning every event for each report."""
    try:
        return con.execute("SELECT min(day) FROM mailbox_day").fetchone()[0]
    except duckdb.CatalogException:  # models not built yet: the events themselves
        return con.execute("SELECT min(occurred_at) FROM audit_event").fetchone()[0]


def retention_text(con) -> str:
    """What every report states of the retention, beside its chain head, in French: what the
    retention purges removed so far, or the oldest trace kept."""
    last = None
    with contextlib.suppress(duckdb.CatalogException):  # not yet opened by a version that purges
        last = con.execute(
            "SELECT retention_months, purged_before, performed_at FROM purge_record "
            "ORDER BY purge_id DESC LIMIT 1"
        ).fetchone()
    if last:
        months, before, at = last
        return (
            f"Les traces sont conservées {months} mois : celles antérieures au "
            f"{labels.prose_day(before)} ont été supprimées le {labels.prose_day(at)}."
        )
    oldest = _oldest_trace_day(con)
    if oldest is None:
        return "Aucune trace n'a été supprimée au titre de la durée de conservation."
    return (
        "Aucune trace n'a encore été supprimée au titre de la durée de conservation ; "
        f"la plus ancienne conservée date du {labels.prose_day(oldest)}."
    )


@dataclass(frozen=True)
class ChainState:
    """The warehouse a report run rests on: its chain head and whether it checked."""

    head: str | None
    verified: bool
    problem: str | None = None
    # A run that read a lake instead of a warehouse: the sha256 of its lake.json.
    lake: str | None = None

    @property
    def notice(self) -> str | None:
        """What every page says when the chain did not check (``--allow-unverified``)."""
        if self.verified:
            return None
        return (
            "La chaîne d'empreintes de l'entrepôt de traces ne se vérifie pas : ce document a été "
            "produit malgré tout (option --allow-unverified) et ne peut pas servir de preuve en "
            f"l'état. Détail : {self.problem}"
        )


def chain_state(con, allow_unverified: bool = False) -> ChainState:
    """Check the warehouse's chain head (the quick check, not a full verification); a
    broken chain is refused (``ChainBroken``, naming what fails) unless ``allow_unverified``,
    and then recorded as such. A lake holds no chain: the run records its lake.json's digest
    (the chain head of the warehouse it was exported from is in that file)."""
    from ..lake import lake_source

    source = lake_source(con)
    if source is not None:
        return ChainState(None, True, lake=source.lake_sha256)
    try:
        check_head(con)
    except ChainBroken as exc:
        if not allow_unverified:
            raise
        return ChainState(chain_head(con), False, str(exc))
    return ChainState(chain_head(con), True)


def _digest_files(paths: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in sorted(paths):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def sql_digest() -> str:
    """A digest of every packaged SQL file (models, marts, reports...), by relative path."""
    root = resources.files("delegation_reports") / "sql"
    files: list[tuple[str, bytes]] = []

    def walk(entry, prefix: str) -> None:
        for child in entry.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
            elif child.name.endswith(".sql"):
                files.append((name, child.read_bytes()))

    walk(root, "")
    return _digest_files(files)


def file_digest(path: Path) -> tuple[str, int]:
    """A file's sha256 and size, read once."""
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        return digest.hexdigest(), handle.tell()


@dataclass
class ReportRun:
    """One report run as its manifest records it."""

    command: str
    chain: ChainState
    notebooks: list[Path]
    month: str | None = None
    practices: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat()
    )
    # The outcome of each practice's report (a dict with its ``practice_id``), for the index.
    reports: list[dict] = field(default_factory=list)

    def record(self) -> dict:
        record = {
            "command": self.command,
            "generated_at": self.generated_at,
            "month": self.month,
            "practices": sorted(self.practices),
            "parameters": self.parameters,
            "chain_head": self.chain.head,
            "chain_verified": self.chain.verified,
            "chain_problem": self.chain.problem,
            **({"lake_sha256": self.chain.lake} if self.chain.lake else {}),
            "version": __version__,
            "sql_digest": sql_digest(),
            "notebooks": {
                p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in self.notebooks
            },
        }
        record["run_id"] = hashlib.sha256(_dumps(record)).hexdigest()[:16]
        return record


def _dumps(value) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself: runs writing there merge one at a time."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _relative(folder: Path, path: Path) -> str:
    try:
        return PurePosixPath(
            Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
        ).as_posix()
    except ValueError:
        raise UserError(f"{path} is outside the report folder {folder}") from None


def read_manifest(folder: Path) -> dict:
    """The folder's manifest; ``UserError`` when it is missing or unreadable."""
    path = Path(folder) / MANIFEST_FILE
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"no {MANIFEST_FILE} in {folder}: not a report folder") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} cannot be read as a manifest: {exc}") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != MANIFEST_FORMAT
        or not isinstance(data.get("files"), list)
        or not isinstance(data.get("runs"), list)
    ):
        raise UserError(f"{path} is not a manifest of format {MANIFEST_FORMAT}")
    return data


# Writes the files derived from the folder's merged report outcomes and runs (by run id);
# returns the paths written.
Derive = Callable[[list[dict], dict[str, dict]], list[Path]]


def write_manifest(
    folder: Path,
    run: ReportRun,
    written: list[Path],
    sign_key: Path | None = None,
    derive: Derive | None = None,
) -> Path:
    """Record ``run`` and the files it wrote in ``folder/manifest.json`` (merged with what
    earlier runs recorded there), and sign it with ``sign_key`` when given; an earlier
    signature that no longer matches is removed. ``derive``, called under the folder's lock
    with the merged report outcomes and runs, writes the files made from them (the index),
    recorded as ``run``'s. Returns the manifest's path."""
    folder = Path(folder)
    key = signing.load_private_key(sign_key) if sign_key else None
    record = run.record()
    entries = {}

    def add(paths: list[Path]) -> None:
        for path in paths:
            relative = _relative(folder, path)
            if relative in _OWN_FILES or not Path(path).is_file():
                continue
            sha256, size = file_digest(path)
            entries[relative] = {
                "path": relative,
                "sha256": sha256,
                "size": size,
                "run_id": record["run_id"],
            }

    add(written)
    with _folder_lock(folder):
        try:
            earlier = read_manifest(folder)
        except UserError:
            earlier = {"files": [], "runs": []}
        reports = {
            r["practice_id"]: r
            for r in earlier.get("reports", [])
            if isinstance(r, dict) and isinstance(r.get("practice_id"), str)
        }
        reports.update({r["practice_id"]: {**r, "run_id": record["run_id"]} for r in run.reports})
        known_runs = {
            r["run_id"]: r for r in earlier["runs"] if isinstance(r, dict) and "run_id" in r
        }
        known_runs[record["run_id"]] = record
        if derive is not None:
            add(derive([reports[p] for p in sorted(reports)], known_runs))
        for entry in earlier["files"]:
            path = entry.get("path") if isinstance(entry, dict) else None
            if isinstance(path, str) and path not in entries:
                entries[path] = entry
        owners = {e.get("run_id") for e in entries.values()} | {
            r.get("run_id") for r in reports.values()
        }
        owners.add(record["run_id"])
        runs = [r for rid, r in known_runs.items() if rid in owners]
        manifest = {
            "format": MANIFEST_FORMAT,
            "tool": "delegation-reports",
            "files": [entries[p] for p in sorted(entries)],
            "runs": sorted(runs, key=lambda r: (str(r.get("generated_at")), r["run_id"])),
            "reports": [reports[p] for p in sorted(reports)],
            "signing_key": signing.key_id(key) if key else None,
        }
        data = _dumps(manifest)
        manifest_path = write_file(folder / MANIFEST_FILE, data)
        signature = folder / SIGNATURE_FILE
        if key is not None:
            write_file(signature, signing.sign(key, data))
        else:
            signature.unlink(missing_ok=True)
    return manifest_path


# ---- checking a folder ----------------------------------------------------------------------


@dataclass
class Problem:
    path: str
    problem: str  # missing | changed | extra | unsafe
    detail: str = ""


@dataclass
class FolderCheck:
    """What `verify-report` found in a report folder."""

    folder: str
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    signature: str = "not checked"  # valid | invalid | missing | not checked
    signing_key: str | None = None
    chain_heads: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.signature in ("valid", "not checked")

    @property
    def verdict(self) -> str:
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[p.problem] = counts.get(p.problem, 0) + 1
        if self.ok:
            signature = (
                "signature valid"
                if self.signature == "valid"
                else "signature not checked (no --public-key)"
            )
            return f"OK: {self.folder}: {self.files_checked} files match the manifest; {signature}"
        parts = [f"{n} {name}" for name, n in sorted(counts.items())]
        if self.signature not in ("valid", "not checked"):
            parts.append(f"signature {self.signature}")
        return f"FAILED: {self.folder}: " + ", ".join(parts)

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            **{k: v for k, v in asdict(self).items() if k != "problems"},
            "problems": [asdict(p) for p in self.problems],
        }


def _safe_target(folder: Path, relative: object) -> Path | None:
    """The file a manifest entry names, when the name stays inside the folder."""
    if not isinstance(relative, str) or not relative or "\\" in relative:
        return None
    pure = PurePosixPath(relative)
    if pure.is_absolute() or any(part in ("", ".", "..") for part in pure.parts):
        return None
    return folder.joinpath(*pure.parts)


def _present_files(folder: Path) -> set[str]:
    """Every file and link under ``folder``, relative, links not followed."""
    present = set()
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        for name in files + [d for d in dirs if (base / d).is_symlink()]:
            present.add((base / name).relative_to(folder).as_posix())
    return present


def verify_folder(folder: Path, public_key: Path | None = None) -> FolderCheck:
    """Check every file of a report folder against its manifest (missing, changed and extra
    files), and the manifest's signature with ``public_key`` when given."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    manifest = read_manifest(folder)
    check = FolderCheck(str(folder), signing_key=manifest.get("signing_key"))
    check.chain_heads = sorted(
        {
            r.get("chain_head")
            for r in manifest["runs"]
            if isinstance(r, dict) and r.get("chain_head")
        }
    )
    listed = set()
    for entry in manifest["files"]:
        relative = entry.get("path") if isinstance(entry, dict) else None
        target = _safe_target(folder, relative)
        if target is None:
            check.problems.append(Problem(str(relative), "unsafe", "path outside the folder"))
            continue
        listed.add(relative)
        check.files_checked += 1
        if target.is_symlink():
            check.problems.append(Problem(relative, "changed", "replaced by a symbolic link"))
            continue
        if not target.is_file():
            check.problems.append(Problem(relative, "missing", "listed in the manifest, not found"))
            continue
        sha256, size = file_digest(target)
        if sha256 != entry.get("sha256") or size != entry.get("size"):
            check.problems.append(
                Problem(
                    relative,
                    "changed",
                    f"sha256 {sha256[:12]}… ({size} bytes), manifest "
                    f"{str(entry.get('sha256'))[:12]}… ({entry.get('size')} bytes)",
                )
            )
    for relative in sorted(_present_files(folder) - listed - _OWN_FILES):
        check.problems.append(Problem(relative, "extra", "not in the manifest"))
    if public_key is not None:
        key = signing.load_public_key(public_key)
        signature = folder / SIGNATURE_FILE
        if not signature.is_file():
            check.signature = "missing"
        else:
            data = (folder / MANIFEST_FILE).read_bytes()
            holds = signing.signature_holds(key, data, signature.read_bytes())
            check.signature = "valid" if holds else "invalid"
    return check
