"""The délégant's history, the DPO's overview, PDFs and JupyterLab, on the samples."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import sync_playwright
from pypdf import PdfReader

from delegation_reports.analysis.models import Month, refresh
from delegation_reports.cli import main
from delegation_reports.ingest.pipeline import ingest_file
from delegation_reports.integrity.reports import read_manifest, verify_folder
from delegation_reports.reports.documents import run_history, run_overview
from delegation_reports.reports.runner import run_monthly
from delegation_reports.warehouse import connect

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOT_EXPORTS = {"ground_truth.csv", "samples.json"}
GARNIER = "helene.garnier@medecin.mssante.fr"
ASSISTANT = "julie.barbier@pro.mssante.fr"
SECRETARY = "sandrine.moulin@pro.mssante.fr"
REPLACEMENT = "camille.royer@medecin.mssante.fr"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The samples ingested and analysed, their monthly reports of March, the overview, and
    Dr Garnier's history of the first quarter."""
    folder = tmp_path_factory.mktemp("documents")
    db = folder / "samples.duckdb"
    con = connect(db)
    try:
        for export in sorted(p for p in SAMPLES.iterdir() if p.name not in NOT_EXPORTS):
            ingest_file(con, export)
        refresh(con)
        mailboxes = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT mailbox FROM audit_event UNION SELECT member FROM roster_member"
            ).fetchall()
        }
        practices = dict(
            con.execute("SELECT DISTINCT practice_id, practice_name FROM roster_member").fetchall()
        )
        activity = dict(
            con.execute(
                "SELECT action, count(*) FROM audit_event WHERE mailbox = ? AND actor = ? AND outcome = 'success' "
                "AND occurred_at >= TIMESTAMPTZ '2026-01-31 23:00:00+00' AND occurred_at < TIMESTAMPTZ '2026-02-28 23:00:00+00' "
                "GROUP BY action",
                [GARNIER, SECRETARY],
            ).fetchall()
        )
    finally:
        con.close()
    out = folder / "reports"
    batch = run_monthly(db, Month(2026, 3), out=out, workers=2)
    history = run_history(db, GARNIER, start="2026-01-01", end="2026-03-31", out=out, pdf=True)
    overview = run_overview(db, Month(2026, 3), out=out)
    return {
        "db": db,
        "out": out,
        "batch": batch,
        "history": history,
        "overview": overview,
        "mailboxes": mailboxes,
        "practices": practices,
        "february": activity,
    }


def _text(path: Path) -> str:
    """The page's HTML without the line-break opportunities put in addresses."""
    return re.sub(r"<wbr\s*/?>", "", path.read_text(encoding="utf-8"))


def test_history_shows_every_delegation_and_who_acted(world):
    html = _text(world["history"])
    assert "Historique des délégations" in html
    for delegate in (ASSISTANT, SECRETARY):
        assert delegate in html
    assert "Assistant médical" in html and "Secrétaire" in html
    assert "13/02/2026 par" in html  # Julie Barbier's delegation was withdrawn that day
    for month in ("Janvier 2026", "Février 2026", "Mars 2026"):
        assert month in html
    # February's row of the secretary: reads and sends counted from the audit table.
    activity = html.split('<section id="activite">', 1)[1]
    february = activity.split("Février 2026", 1)[1].split("Mars 2026", 1)[0]
    row = february.split(SECRETARY, 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[1:3] == [
        str(world["february"].get("read", 0)),
        str(world["february"].get("send", 0)),
    ]


def test_history_lists_the_mailbox_findings_and_its_basis(world):
    html = _text(world["history"])
    assert "Accès après la fin de la délégation" in html
    assert "Lecture massive de messages" in html
    assert "Messagerie Alpha" in html
    assert "Sur quoi repose ce document" in html
    review = html.split("À revoir maintenant", 1)[1].split("Sur quoi repose", 1)[0]
    # The secretary's delegation is still open: to review; the revoked assistant's is not.
    assert "La délégation à Sandrine Moulin" in review and "toujours active" in review
    assert "Julie Barbier" not in review


def test_history_holds_nothing_about_other_mailboxes(world):
    html = _text(world["history"])
    # Dr Garnier's délégataires are part of her history; nobody else is.
    others = world["mailboxes"] - {GARNIER, ASSISTANT, SECRETARY, REPLACEMENT}
    leaked = sorted(m for m in others if m in html)
    assert leaked == []
    names = {
        name for pid, name in world["practices"].items() if name != "Cabinet médical des Tilleuls"
    }
    assert sorted(n for n in names if n in html) == []


def test_history_pdf_shows_the_charts(world):
    pdf = world["history"].with_suffix(".pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 2
    assert reader.pages[0].mediabox.width == pytest.approx(595, abs=2)  # A4 portrait
    text = "\n".join(page.extract_text() for page in reader.pages)
    # Texts drawn by plotly in the charts' SVG: the timeline's month ticks, the calendar's
    # colour bar title and day columns.
    assert "janv. 2026" in text and "févr. 2026" in text
    # The history names only délégataires on its timeline: the délégant is the reader.
    assert "Julie Barbier" in text and "Julie Barbier → " not in text
    assert "actions" in text


def test_overview_ranks_practices_and_links_their_reports(world):
    html = _text(world["overview"])
    rows = re.findall(
        r"<tr[^>]*><td>([^<]+)</td><td><code>([^<]+)</code></td><td>\d+</td>\s*<td>(\d+)</td><td>(\d+)</td>",
        html,
    )
    assert {pid for _, pid, _, _ in rows} == set(world["practices"])
    ranking = [(int(c), int(w)) for _, _, c, w in rows]
    assert ranking == sorted(ranking, reverse=True)
    for outcome in world["batch"].outcomes:
        assert f'href="{outcome.practice_id}.html"' in html
        assert (world["overview"].parent / f"{outcome.practice_id}.html").is_file()
    for section in (
        "Alertes par règle",
        "Couverture des traces par opérateur",
        "Hygiène des délégations",
        "Lignes écartées à l'import",
        "Tendance sur douze mois",
    ):
        assert section in html
    for month in ("janvier 2026", "février 2026", "mars 2026"):
        assert month in html


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.mark.parametrize(
    ("document", "figures"),
    [
        ("history", ("figure-delegations", "figure-calendar")),
        ("overview", ("figure-trend",)),
    ],
)
def test_documents_draw_their_charts_offline(browser, world, document, figures, tmp_path):
    page = browser.new_page()
    requests, errors = [], []

    def route(r):
        if r.request.url.startswith(("file://", "data:")):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(world[document].as_uri())
    for figure in figures:
        page.wait_for_selector(f"#{figure} svg.main-svg", timeout=20_000)
    shot = tmp_path / f"{document}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert requests == []
    assert errors == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_command_refuses_an_unknown_mailbox(world, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "report",
            "history",
            "--mailbox",
            "personne@nulle.part",
            "--db",
            str(world["db"]),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0
    assert "unknown mailbox 'personne@nulle.part'" in result.output
    assert "Traceback" not in result.output


def test_history_command_refuses_reversed_dates(world, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "report",
            "history",
            "--mailbox",
            GARNIER,
            "--from",
            "2026-03-01",
            "--to",
            "2026-01-01",
            "--db",
            str(world["db"]),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0
    assert "is after" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_serves_the_notebooks_behind_a_token(world):
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "delegation_reports.cli",
            "lab",
            "--db",
            str(world["db"]),
            "--port",
            str(port),
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert str(world["db"]) in first
        token = re.search(r"token=([0-9a-f]+)", second).group(1)
        listing = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and listing is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=5
                ) as r:
                    listing = r.read().decode()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        assert listing is not None, "JupyterLab did not answer"
        for notebook in (
            "monthly_report.ipynb",
            "explore_findings.ipynb",
            "delegation_history.ipynb",
            "overview.ipynb",
        ):
            assert notebook in listing
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=5)
        assert refused.value.code == 403
    finally:
        process.terminate()
        process.wait(timeout=30)


def _pdf_text(path: Path) -> str:
    assert path.read_bytes().startswith(b"%PDF")
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_pdf_option_of_the_monthly_and_overview_commands(world, tmp_path):
    runner = CliRunner()
    practice = "C52249671000024"
    monthly = runner.invoke(
        main,
        [
            "report",
            "monthly",
            "--month",
            "2026-03",
            "--practice",
            practice,
            "--pdf",
            "--db",
            str(world["db"]),
            "--out",
            str(tmp_path),
        ],
    )
    assert monthly.exit_code == 0, monthly.output
    text = _pdf_text(tmp_path / "2026-03" / f"{practice}.pdf")
    # The timeline's French ticks and the heatmap's weekdays are drawn by plotly.
    assert "8 mars" in text and "Lundi" in text
    overview = runner.invoke(
        main,
        [
            "report",
            "overview",
            "--month",
            "2026-03",
            "--pdf",
            "--db",
            str(world["db"]),
            "--out",
            str(tmp_path),
        ],
    )
    assert overview.exit_code == 0, overview.output
    assert "Tendance sur douze mois" in _pdf_text(tmp_path / "2026-03" / "overview.pdf")


def test_every_document_is_recorded_in_its_folder_manifest(world):
    history, folder = world["history"], world["out"] / "2026-03"
    listed = {f["path"] for f in read_manifest(history.parent)["files"]}
    assert {history.name, history.with_suffix(".pdf").name} <= listed
    assert verify_folder(history.parent).ok
    listed = {f["path"] for f in read_manifest(folder)["files"]}
    reports = {o.path.name for o in world["batch"].outcomes}
    assert reports | {"index.html", "overview.html"} <= listed
    commands = {r["command"] for r in read_manifest(folder)["runs"]}
    assert commands == {"report monthly", "report overview"}
    assert verify_folder(folder).ok
