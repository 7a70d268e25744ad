"""Full verification of the warehouse: the chain link by link, every sealed row against its
link, every file's rows against its digest (less what purges removed), and optionally the
source files against the manifest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from . import chain, digest

_CHUNK = 1 << 20


@dataclass
class Problem:
    """One thing that no longer holds."""

    scope: str  # chain | manifest | rows | source
    text: str
    file_id: int | None = None
    file_name: str | None = None
    table: str | None = None
    what: str | None = None  # changed | missing | added | broken | differs | ...
    rows: int | None = None


@dataclass
class Verification:
    links: int = 0
    head: str | None = None
    files: int = 0
    rows: int = 0
    sources_checked: int = 0
    first_broken_link: int | None = None
    problems: list[Problem] = field(default_factory=list)
    # Source files of the manifest not found under --sources (not a failure).
    sources_not_found: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        if self.ok:
            sources = (
                f", {self.sources_checked} source file(s) match" if self.sources_checked else ""
            )
            head = f", head {self.head}" if self.head else ""
            return (
                f"verified: {self.files} file(s), {self.rows:,} row(s), {self.links} link(s)"
                f"{sources}{head}"
            )
        scopes = {}
        for p in self.problems:
            scopes[p.scope] = scopes.get(p.scope, 0) + 1
        parts = ", ".join(f"{n} {scope} problem(s)" for scope, n in scopes.items())
        broken = f"; first broken link: {self.first_broken_link}" if self.first_broken_link else ""
        return f"NOT verified: {parts}{broken}"

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "links": self.links,
            "head": self.head,
            "files": self.files,
            "rows": self.rows,
            "first_broken_link": self.first_broken_link,
            "sources_checked": self.sources_checked,
            "sources_not_found": self.sources_not_found,
            "problems": [asdict(p) for p in self.problems],
        }


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if abs(n) == 1 else 's'}"


def _check_links(con, out: Verification, links: list[chain.Link]) -> list[chain.Link]:
    """Walk the chain: every link follows the one before and its hash matches its content.
    Returns the links whose own hash holds (their content is what was sealed)."""
    out.links = len(links)
    trusted = []
    previous, expected_seq = chain.GENESIS, 1

    def broken(seq: int, text: str, what: str = "broken") -> None:
        if out.first_broken_link is None or seq < out.first_broken_link:
            out.first_broken_link = seq
        out.problems.append(Problem("chain", text, what=what))

    for link in links:
        if link.seq != expected_seq:
            if link.seq > expected_seq:
                missing = (
                    f"{expected_seq}"
                    if link.seq == expected_seq + 1
                    else f"{expected_seq} to {link.seq - 1}"
                )
                broken(expected_seq, f"link(s) {missing} missing from the chain", "missing")
            else:
                broken(link.seq, f"link {link.seq} is repeated")
        elif link.previous_hash != previous:
            broken(
                link.seq,
                f"link {link.seq} does not follow link {link.seq - 1} (its previous hash differs)",
            )
        if link.recomputed() != link.entry_hash:
            broken(
                link.seq,
                f"link {link.seq} ({link.kind} {link.ref_id}) was changed: its hash does not match its content",
                "changed",
            )
        else:
            trusted.append(link)
        previous, expected_seq = link.entry_hash, link.seq + 1
    head = con.execute("SELECT n_entries, head_hash FROM chain_head").fetchall()
    out.head = head[0][1] if head else None
    if not head:
        if links:
            broken(len(links), "the chain's head is missing")
    elif head[0][0] > len(links):
        broken(
            len(links) + 1,
            f"the chain was cut: its head counts {_plural(head[0][0], 'link')}, the chain holds {len(links)}",
            "truncated",
        )
    elif head[0][0] != len(links) or (links and head[0][1] != links[-1].entry_hash):
        broken(len(links), "the chain's head does not match its last link")
    return trusted


def _label(file_id, rows_by_file: dict) -> tuple[str, str | None]:
    row = rows_by_file.get(file_id)
    name = row["file_name"] if row else None
    return (f"file {file_id} ({name})" if name else f"file {file_id}"), name


def _check_sealed_rows(con, out: Verification, links: list[chain.Link]) -> dict:
    """Each sealed row against its link; rows without a link. Returns the manifest rows."""
    current = {kind: chain.source_rows(con, kind) for kind in chain.SOURCES}
    sealed = {(link.kind, link.ref_id): link for link in links}
    files = current[chain.FILE]
    for (kind, ref_id), link in sealed.items():
        row = current[kind].get(ref_id)
        label = _label(ref_id, files)[0] if kind == chain.FILE else f"{kind} {ref_id}"
        noun = "manifest entry of " + label if kind == chain.FILE else label
        file_id = ref_id if kind == chain.FILE else None
        if row is None:
            out.problems.append(
                Problem(
                    "manifest", f"{noun} was deleted (link {link.seq})", file_id, what="missing"
                )
            )
            continue
        changed = chain.changed_fields(link.content, row)
        if changed:
            out.problems.append(
                Problem(
                    "manifest",
                    f"{noun} was changed since link {link.seq} sealed it: {', '.join(changed)}",
                    file_id,
                    files.get(ref_id, {}).get("file_name") if file_id else None,
                    what="changed",
                    rows=len(changed),
                )
            )
    for kind, rows in current.items():
        for ref_id in rows:
            if (kind, ref_id) not in sealed:
                label = _label(ref_id, files)[0] if kind == chain.FILE else f"{kind} {ref_id}"
                noun = "manifest entry of " + label if kind == chain.FILE else label
                out.problems.append(
                    Problem(
                        "manifest",
                        f"{noun} has no link in the chain (added outside the tool, or its link was removed)",
                        ref_id if kind == chain.FILE else None,
                        what="unsealed",
                    )
                )
    return files


def _expected_digests(out: Verification, links: Iterable[chain.Link]) -> dict[int, dict]:
    """What each file's rows must digest to, from the sealed manifest entries less what the
    sealed purges removed."""
    expected: dict[int, dict[str, digest.Part]] = {}
    for link in links:
        content = json.loads(link.content)
        if link.kind == chain.FILE:
            text = content.get("rows_digest")
            if not text:
                continue
            algorithm, parts = digest.decode(text)
            if algorithm != digest.ALGORITHM:
                out.problems.append(
                    Problem(
                        "rows",
                        f"file {link.ref_id}: digest made with {algorithm!r}, which this version cannot recompute",
                        link.ref_id,
                        what="unknown-digest",
                    )
                )
                continue
            expected[link.ref_id] = parts
        elif link.kind == chain.PURGE:
            for file_id, tables in json.loads(content["removed"]).items():
                mine = expected.setdefault(int(file_id), {})
                for table, value in tables.items():
                    mine[table] = mine.get(table, digest.ZERO) - digest.Part.from_json(value)
    return expected


def _check_rows(con, out: Verification, expected: dict, files: dict, skip: set[int]) -> None:
    """Each file's rows against what they must digest to; ``skip``: files whose link was
    changed (already reported: what they must digest to is unknown)."""
    if not digest.engine_supported(con):
        out.problems.append(
            Problem(
                "rows",
                "this DuckDB version hashes rows differently from the one the digests were made "
                "with: rows cannot be checked with it (use the version in requirements.lock)",
                what="unsupported-engine",
            )
        )
        return
    actual = digest.all_digests(con)
    out.files = len(expected)
    out.rows = sum(p.rows for parts in actual.values() for p in parts.values())
    for file_id in sorted((set(expected) | set(actual)) - skip):
        label, name = _label(file_id, files)
        want, have = expected.get(file_id, {}), actual.get(file_id, {})
        for table in sorted(set(want) | set(have)):
            w, h = want.get(table, digest.ZERO), have.get(table, digest.ZERO)
            if w.same(h):
                continue
            if file_id not in expected:
                out.problems.append(
                    Problem(
                        "rows",
                        f"{table}: {_plural(h.rows, 'row')} added under {label}, which no "
                        "sealed manifest entry loaded",
                        file_id,
                        name,
                        table,
                        "added",
                        h.rows,
                    )
                )
                continue
            missing, added, changed = w.difference(h)
            found = [("missing", missing), ("added", added)]
            if changed != 0:
                found.append(("changed", changed))
            for what, n in found:
                if not n and what != "changed":
                    continue
                if what != "changed":
                    text = f"{label}, {table}: {_plural(n, 'row')} {what}"
                elif n is None:
                    text = f"{label}, {table}: rows changed (as many rows, different content)"
                else:  # counted by bucket: two changed rows of one bucket count once
                    count = "1 row" if n == 1 else f"at least {n:,} rows"
                    text = f"{label}, {table}: {count} changed"
                out.problems.append(Problem("rows", text, file_id, name, table, what, n))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check_sources(out: Verification, files: dict, folders: list[Path]) -> None:
    """Each manifest entry's file, looked up by name under the folders: same size and
    sha256 as recorded."""
    by_name: dict[str, list[Path]] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                by_name.setdefault(path.name, []).append(path)
    for file_id, row in sorted(files.items()):
        candidates = by_name.get(row["file_name"], [])
        if not candidates:
            out.sources_not_found.append(row["file_name"])
            continue
        out.sources_checked += 1
        same_size = [p for p in candidates if p.stat().st_size == row["size_bytes"]]
        if any(_sha256(p) == row["sha256"] for p in same_size):
            continue
        path = candidates[0]
        what = "sha256" if same_size else "size"
        out.problems.append(
            Problem(
                "source",
                f"{path}: its {what} differs from the manifest entry of file {file_id} "
                f"({row['size_bytes']:,} bytes, sha256 {row['sha256'][:12]}…)",
                file_id,
                row["file_name"],
                what="differs",
            )
        )


def _check_published(out: Verification, links: list[chain.Link], heads: list[str]) -> None:
    """A head published earlier (a report carries the one it was built from) must be the hash
    of one of the chain's links: otherwise the chain was rewritten since."""
    known = {link.entry_hash: link.seq for link in links}
    for head in heads:
        if head.lower() not in known:
            out.problems.append(
                Problem(
                    "chain",
                    f"the published head {head} is no link of this chain: the warehouse was "
                    "rewritten or cut since it was published",
                    what="unknown-head",
                )
            )


def verify(
    con: duckdb.DuckDBPyConnection,
    sources: list[Path] | None = None,
    heads: list[str] | None = None,
) -> Verification:
    """Recompute the chain and every digest; with ``sources``, compare the source files;
    with ``heads``, check that each published head is a link of the chain."""
    out = Verification()
    if not chain.has_chain(con):
        n_files = con.execute("SELECT count(*) FROM ingest_file").fetchone()[0]
        if n_files:
            out.problems.append(
                Problem(
                    "chain",
                    "the warehouse has no chain of evidence yet: open it once for writing with "
                    "this version (e.g. 'delegation-reports refresh') to seal what it holds",
                    what="unsealed",
                )
            )
        return out
    links = chain.links(con)
    trusted = _check_links(con, out, links)
    files = _check_sealed_rows(con, out, links)
    changed = {link.ref_id for link in links if link.kind == chain.FILE and link not in trusted}
    _check_rows(con, out, _expected_digests(out, trusted), files, changed)
    if sources:
        _check_sources(out, files, sources)
    _check_published(out, links, heads or [])
    return out
