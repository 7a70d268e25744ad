"""Verifiable reports: manifest.json of every report run, its Ed25519 signature, keygen,
verify-report, and the warehouse chain head reports rest on (refused when it does not check,
unless --allow-unverified, which every page then states)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from delegation_reports.cli import main
from delegation_reports.errors import UserError
from delegation_reports.integrity import reports as integrity
from delegation_reports.integrity import signing
from delegation_reports.integrity.chain import chain_head
from delegation_reports.integrity.reports import (
    ChainState,
    ReportRun,
    verify_folder,
    write_manifest,
)
from delegation_reports.reports.monthly import MonthlyReport
from delegation_reports.reports.output import recording, write_file

pytest.register_assert_rewrite("reports_cases")

from reports_cases import MARCH, A, B, parse_html  # noqa: E402

pytest_plugins = ["reports_cases"]

HEAD = "9f2c4e" + "0" * 58


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> tuple[Path, Path]:
    return signing.keygen(tmp_path_factory.mktemp("keys") / "keys")


def _invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---- keys -------------------------------------------------------------------------------


def test_keygen_writes_an_owner_only_private_key_and_never_overwrites(tmp_path):
    folder = tmp_path / "keys"
    result = _invoke("keygen", folder)
    assert result.exit_code == 0, result.output
    private, public = folder / signing.PRIVATE_KEY_FILE, folder / signing.PUBLIC_KEY_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    key = signing.load_private_key(private)
    assert signing.key_id(key) == signing.key_id(signing.load_public_key(public))
    assert signing.key_id(key) in result.output
    before = private.read_bytes()
    again = _invoke("keygen", folder)
    assert again.exit_code == 1
    assert "already exists: refusing to overwrite a key" in again.output
    assert "Traceback" not in again.output
    assert private.read_bytes() == before


def test_a_signing_key_others_can_read_is_refused(tmp_path, keys):
    loose = tmp_path / "loose.key"
    loose.write_bytes(keys[0].read_bytes())
    loose.chmod(0o644)
    with pytest.raises(UserError, match="accessible to other users"):
        signing.load_private_key(loose)
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"junk")
    junk.chmod(0o600)
    with pytest.raises(UserError, match="not an unencrypted PEM private key"):
        signing.load_private_key(junk)


# ---- manifests and verify-report on a folder of files -----------------------------------


def _run(command="report monthly", month="2026-03", head=HEAD, verified=True) -> ReportRun:
    return ReportRun(
        command,
        ChainState(head, verified, None if verified else "broken"),
        [],
        month=month,
        practices=[A],
        parameters={"assets": "shared"},
    )


def _folder(tmp_path: Path, keys=None) -> Path:
    folder = tmp_path / "2026-03"
    (folder / "notebooks").mkdir(parents=True)
    with recording() as written:
        write_file(folder / "A.html", "<p>rapport A</p>")
        write_file(folder / "A.pdf", b"%PDF-1.7 A")
        write_file(folder / "notebooks" / "A.ipynb", "{}")
        write_file(folder / "index.html", "<p>index</p>")
    write_manifest(folder, _run(), written, keys[0] if keys else None)
    return folder


def test_manifest_lists_every_file_with_its_digest_and_what_the_run_rests_on(tmp_path, keys):
    folder = _folder(tmp_path, keys)
    manifest = json.loads((folder / "manifest.json").read_text())
    files = {f["path"]: f for f in manifest["files"]}
    assert sorted(files) == ["A.html", "A.pdf", "index.html", "notebooks/A.ipynb"]
    assert files["A.pdf"]["size"] == len(b"%PDF-1.7 A")
    assert files["A.html"]["sha256"] == integrity.file_digest(folder / "A.html")[0]
    (run,) = manifest["runs"]
    assert run["chain_head"] == HEAD and run["chain_verified"] is True
    assert run["month"] == "2026-03" and run["practices"] == [A]
    assert run["sql_digest"] == integrity.sql_digest() and len(run["sql_digest"]) == 64
    assert run["version"] and run["generated_at"].endswith("+00:00")
    assert {f["run_id"] for f in files.values()} == {run["run_id"]}
    assert manifest["signing_key"] == signing.key_id(signing.load_public_key(keys[1]))
    # Deterministic: keys sorted at every level.
    text = (folder / "manifest.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    result = _invoke("verify-report", folder, "--public-key", keys[1])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("OK: ")
    assert "4 files match the manifest; signature valid" in result.output
    assert HEAD in result.output


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            lambda f: f.joinpath("A.html").write_text("<p>rapport A modifié</p>"),
            ("changed", "A.html"),
        ),
        (lambda f: f.joinpath("A.pdf").write_bytes(b"%PDF-1.7 B"), ("changed", "A.pdf")),
        (lambda f: f.joinpath("notebooks", "A.ipynb").unlink(), ("missing", "notebooks/A.ipynb")),
        (
            lambda f: f.joinpath("notebooks", "B.html").write_text("x"),
            ("extra", "notebooks/B.html"),
        ),
        (lambda f: f.joinpath("evil.html").symlink_to(f / "A.html"), ("extra", "evil.html")),
    ],
)
def test_verify_report_names_the_file_that_differs(tmp_path, keys, tamper, expected):
    folder = _folder(tmp_path, keys)
    tamper(folder)
    result = _invoke("verify-report", folder, "--public-key", keys[1])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any(line.startswith(f"{expected[0]}: {expected[1]}") for line in lines), result.output
    assert lines[-1].startswith("FAILED: ") and f"1 {expected[0]}" in lines[-1]
    data = json.loads(_invoke("verify-report", folder, "--json").output)
    assert data["ok"] is False
    assert [(p["problem"], p["path"]) for p in data["problems"]] == [expected]


def test_a_changed_manifest_breaks_the_signature(tmp_path, keys):
    folder = _folder(tmp_path, keys)
    manifest = folder / "manifest.json"
    # Someone edits a report and puts its new digest in the manifest.
    (folder / "A.html").write_text("<p>autre</p>")
    data = json.loads(manifest.read_text())
    for entry in data["files"]:
        if entry["path"] == "A.html":
            entry["sha256"], entry["size"] = integrity.file_digest(folder / "A.html")
    manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    unsigned = _invoke("verify-report", folder)
    assert unsigned.exit_code == 0  # the digests agree; only the signature can tell
    assert "signature not checked" in unsigned.output
    result = _invoke("verify-report", folder, "--public-key", keys[1])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"FAILED: {folder}: signature invalid"


def test_a_missing_signature_or_another_key_fails(tmp_path, keys):
    folder = _folder(tmp_path, keys)
    other = signing.keygen(tmp_path / "other")
    result = _invoke("verify-report", folder, "--public-key", other[1])
    assert result.exit_code == 1 and "signature invalid" in result.output
    (folder / "manifest.json.sig").unlink()
    result = _invoke("verify-report", folder, "--public-key", keys[1])
    assert result.exit_code == 1 and "signature missing" in result.output


def test_runs_into_the_same_folder_merge_and_an_unsigned_run_drops_the_old_signature(
    tmp_path, keys
):
    folder = _folder(tmp_path, keys)
    first = json.loads((folder / "manifest.json").read_text())
    with recording() as written:
        write_file(folder / "overview.html", "<p>vue</p>")
        write_file(folder / "index.html", "<p>index 2</p>")
    write_manifest(folder, _run("report overview"), written)
    manifest = json.loads((folder / "manifest.json").read_text())
    owners = {f["path"]: f["run_id"] for f in manifest["files"]}
    runs = {r["run_id"]: r["command"] for r in manifest["runs"]}
    assert sorted(owners) == ["A.html", "A.pdf", "index.html", "notebooks/A.ipynb", "overview.html"]
    assert runs[owners["overview.html"]] == runs[owners["index.html"]] == "report overview"
    assert runs[owners["A.html"]] == "report monthly"
    # Entries of the earlier run are carried over as they were.
    assert [f for f in manifest["files"] if f["path"] == "A.html"] == [
        f for f in first["files"] if f["path"] == "A.html"
    ]
    assert not (folder / "manifest.json.sig").exists()
    assert verify_folder(folder).ok
    # A run that rewrote every file of the first run leaves no trace of it.
    with recording() as written:
        for name in ("A.html", "A.pdf", "notebooks/A.ipynb"):
            write_file(folder / name, "v2")
    write_manifest(folder, _run("report monthly"), written)
    commands = [r["command"] for r in json.loads((folder / "manifest.json").read_text())["runs"]]
    assert sorted(commands) == ["report monthly", "report overview"]
    assert verify_folder(folder).ok


def _outcome(practice_id: str, name: str, critical: int, error=None) -> dict:
    return {
        "practice_id": practice_id,
        "practice_name": name,
        "n_critical": critical,
        "n_warning": 0,
        "n_info": 0,
        "has_traces": True,
        "error": error,
    }


def test_the_index_is_written_from_the_outcomes_every_run_recorded(tmp_path):
    from delegation_reports.reports.runner import month_index

    folder = tmp_path / "2026-03"
    folder.mkdir()
    stamp = "2026-04-01T08:00:00+00:00"
    for practice_id, name, critical in (("P1", "Cabinet Un", 0), ("P2", "Cabinet Deux", 2)):
        with recording() as written:
            write_file(folder / f"{practice_id}.html", f"<p>{name}</p>")
        run = _run()
        run.reports = [_outcome(practice_id, name, critical)]
        write_manifest(folder, run, written, derive=month_index(folder, MARCH, stamp))
    index = parse_html((folder / "index.html").read_text("utf-8"))
    # Both batches' practices, the most critical first.
    assert [a.attrs["href"] for a in index.find_all("a")] == ["P2.html", "P1.html"]
    # A failure later for P1 is its last outcome; a report removed from the folder drops out;
    # a record edited by hand into nonsense is skipped, not a crash.
    (folder / "P2.html").unlink()
    data = json.loads((folder / "manifest.json").read_text())
    data["reports"].append({**_outcome("P3", "Cabinet Trois", 1), "n_critical": "many"})
    data["reports"].append({**_outcome("../P4", "Cabinet Quatre", 1)})
    (folder / "manifest.json").write_text(json.dumps(data))
    run = _run()
    run.reports = [_outcome("P1", "Cabinet Un", 0, error="TimeoutError: 600 s")]
    write_manifest(folder, run, [], derive=month_index(folder, MARCH, stamp))
    text = (folder / "index.html").read_text("utf-8")
    assert "TimeoutError: 600 s" in text
    assert "Cabinet Deux" not in text and "Cabinet Trois" not in text
    assert "Cabinet Quatre" not in text
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {r["practice_id"]: r["error"] for r in manifest["reports"]}["P1"] == (
        "TimeoutError: 600 s"
    )
    # The index's entry is the index now on disk.
    problems = [(p.path, p.problem) for p in verify_folder(folder).problems]
    assert ("index.html", "changed") not in problems
    assert ("P2.html", "missing") in problems


@pytest.mark.parametrize("path", ["../outside.html", "/etc/passwd", "a/../../b"])
def test_a_manifest_naming_a_path_outside_the_folder_fails(tmp_path, path):
    folder = _folder(tmp_path)
    data = json.loads((folder / "manifest.json").read_text())
    data["files"].append({"path": path, "sha256": "0" * 64, "size": 0, "run_id": "x"})
    (folder / "manifest.json").write_text(json.dumps(data))
    check = verify_folder(folder)
    assert not check.ok
    assert [(p.problem, p.path) for p in check.problems] == [("unsafe", path)]


def test_verify_report_refuses_a_folder_without_manifest(tmp_path):
    result = _invoke("verify-report", tmp_path)
    assert result.exit_code == 1
    assert "no manifest.json" in result.output and "Traceback" not in result.output
    (tmp_path / "manifest.json").write_text("{not json")
    result = _invoke("verify-report", tmp_path)
    assert result.exit_code == 1 and "cannot be read as a manifest" in result.output


# ---- report runs --------------------------------------------------------------------------


def test_report_runs_write_a_signed_manifest_that_verifies(world, tmp_path, keys):
    out = tmp_path / "out"
    monthly = _invoke(
        "report", "monthly", "--db", world.db, "--month", "2026-03", "--practice", A,
        "--out", out, "--assets", "shared", "--keep-notebooks", "--sign-key", keys[0],
    )  # fmt: skip
    assert monthly.exit_code == 0, monthly.output
    folder = out / "2026-03"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(f["path"] for f in manifest["files"]) == sorted(
        [
            f"{A}.html",
            f"{A}-preuves.csv",
            f"{A}-preuves.xlsx",
            "index.html",
            "plotly.min.js",
            f"notebooks/{A}.ipynb",
        ]
    )
    (run,) = manifest["runs"]
    assert run["command"] == "report monthly" and run["practices"] == [A]
    with duckdb.connect(str(world.db), read_only=True) as con:
        head = chain_head(con)
    assert run["chain_head"] == head and run["chain_verified"] is True
    assert head in (folder / f"{A}.html").read_text()
    assert run["parameters"]["assets"] == "shared" and run["parameters"]["keep_notebooks"]
    assert set(run["notebooks"]) == {"monthly_report.ipynb"}
    assert _invoke("verify-report", folder, "--public-key", keys[1]).exit_code == 0

    overview = _invoke(
        "report", "overview", "--db", world.db, "--month", "2026-03", "--out", out,
        "--sign-key", keys[0],
    )  # fmt: skip
    assert overview.exit_code == 0, overview.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "overview.html" in {f["path"] for f in manifest["files"]}
    assert {r["command"] for r in manifest["runs"]} == {"report monthly", "report overview"}
    result = _invoke("verify-report", folder, "--public-key", keys[1], "--json")
    assert result.exit_code == 0 and json.loads(result.output)["files_checked"] == 7
    # The report's data-quality section says how to check it.
    page = (folder / f"{A}.html").read_text()
    assert "delegation-reports verify-report" in page and "delegation-reports verify" in page


def _broken_copy(world, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the warehouse whose stored chain head was rewritten."""
    db = tmp_path / "broken.duckdb"
    shutil.copy(world.db, db)
    with duckdb.connect(str(db)) as con:
        head = chain_head(con)
        con.execute("UPDATE chain_head SET head_hash = ?", [HEAD])
    return db, head


def test_a_report_is_refused_on_a_broken_chain_unless_allowed_and_then_every_page_says_so(
    world, tmp_path
):
    db, _ = _broken_copy(world, tmp_path)
    out = tmp_path / "out"
    monthly = ("report", "monthly", "--db", db, "--month", "2026-03", "--practice", A, "--out", out)
    refused = _invoke(*monthly)
    assert refused.exit_code == 1
    assert "chain of evidence is broken" in refused.output
    assert "--allow-unverified" in refused.output and "Traceback" not in refused.output
    assert not out.exists()
    refused = _invoke("report", "overview", "--db", db, "--month", "2026-03", "--out", out)
    assert refused.exit_code == 1 and "chain of evidence is broken" in refused.output

    allowed = _invoke(*monthly, "--practice", B, "--allow-unverified")
    assert allowed.exit_code == 0, allowed.output
    folder = out / "2026-03"
    for name in (f"{A}.html", f"{B}.html", "index.html"):
        banner = parse_html((folder / name).read_text()).find("div", cls="unverified")
        assert "Entrepôt non vérifié" in banner.text, name
        assert "chain of evidence is broken" in banner.text
    (run,) = json.loads((folder / "manifest.json").read_text())["runs"]
    assert run["chain_verified"] is False and "broken" in run["chain_problem"]
    assert run["chain_head"] == HEAD
    # A report from a warehouse that checks carries no banner.
    fine = _invoke("report", "monthly", "--db", world.db, "--month", "2026-03", "--practice", A,
                   "--out", tmp_path / "fine")  # fmt: skip
    assert fine.exit_code == 0, fine.output
    assert 'class="unverified"' not in (tmp_path / "fine" / "2026-03" / f"{A}.html").read_text()


def test_the_data_quality_section_shows_the_chain_head(world):
    con = duckdb.connect(str(world.db), read_only=True)
    try:
        head = chain_head(con)
        report = MonthlyReport.from_connection(con, A, MARCH)
    finally:
        con.close()
    assert head and len(head) == 64
    section = parse_html(report.section("data_quality"))
    assert head in section.find("div", cls="chain-note").text
    # Without a chain (a warehouse made before it existed) the section says so.
    report.chain_head = None
    assert "ne tenait pas encore de chaîne" in report.section("data_quality")
