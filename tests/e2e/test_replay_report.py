"""`replay --report` and `--plot` as an operator sees them: a simulated rollout whose devices brick (a truth the
simulator knows), replayed; the HTML report opened in a real headless Chromium (Debian's, driven by Playwright, both
installed by `make`): no console error, the chart and its marked crossing visible, the casualty table's rows those
of the replay's JSON; the PNG an image of a sensible size. Plus the table shapes (`--output csv`)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from rollout_guard_local.fleet_sim import generate, scenarios
from tests import cli

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    """A rollout of 40 devices, 15% bricking after SUCCEEDED under an outage (dark things discounted, then counted
    once the fleet is back): every part of the chart has something to draw."""
    folder = tmp_path_factory.mktemp("replay-report")
    scenario = [s for s in scenarios(devices=40, fleet=300, threshold=3, dark_after_s=30, share=0.15)
                if s.name == "outage with bricking"][0]
    (folder / "events.jsonl").write_text("\n".join(json.dumps(body) for _, body in generate(scenario).events))
    (folder / "a.yaml").write_text(scenario.policy())
    (folder / "b.yaml").write_text(scenario.policy().replace("things: 3", "things: 6"))
    return folder


def replay(folder: Path, *extra: str):
    return cli.run("replay", "events.jsonl", "--policy", "a.yaml", *extra, cwd=folder)


@pytest.fixture(scope="module")
def reported(stream):
    done = replay(stream, "--compare", "b.yaml", "--report", "r.html", "--plot", "r.png", "--output", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), (stream / "r.html").read_text(), stream


def test_the_report_is_one_offline_file_with_a_chart_and_the_crossing_time_per_job(reported):
    answer, html, _ = reported

    (job,) = answer["jobs"]
    assert job["halted"] and job["casualtyTable"]
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert html.count("<svg") == 1 and job["at"] in html and job["casualty"] in html
    assert "b.yaml: crosses at" in html  # the compared policy's crossing on the same chart


def test_the_plot_is_a_png_image(reported):
    _, _, folder = reported
    png = (folder / "r.png").read_bytes()

    assert png[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(png) < 500_000


def test_a_replay_with_pictures_writes_nothing_to_stderr_and_its_text_stays(stream):
    done = replay(stream, "--report", "quiet.html", "--plot", "quiet.png")

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("job ") and "fw-sim  yes" in done.stdout


def test_a_report_that_cannot_be_written_is_one_line_and_exit_2(stream):
    done = replay(stream, "--report", "no/such/folder/r.html")

    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().startswith("rollout-guard: cannot write no/such/folder/r.html")


def test_csv_output_is_one_row_per_job_with_a_header(stream):
    done = replay(stream, "--output", "csv")

    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["job", "would halt", "at (event time)", "on casualty", "casualties", "discounted", "rule"]
    assert [row[:2] for row in rows[1:]] == [["fw-sim", "yes"]]


def test_the_report_opens_in_a_headless_browser_as_the_replay_says(reported):
    from playwright.sync_api import sync_playwright

    answer, _, folder = reported
    assert shutil.which("chromium") == CHROMIUM, "make installs Debian's chromium"
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: errors.append(f"request {request.url}")
                if not request.url.startswith("file://") else None)
        page.goto((folder / "r.html").resolve().as_uri())
        visible = [page.locator(selector).first.is_visible() for selector in
                   ("svg", "svg g.crossing text", "svg polyline.series.counted", "svg rect.outage")]
        # a line is drawn, not "visible" to Playwright (its box is a stroke wide): it has a box on the chart
        lines = [page.locator(selector).first.bounding_box() for selector in ("svg g.crossing line",
                                                                              "svg line.threshold")]
        crossing_text = page.locator("svg g.crossing text").first.text_content()
        rows = page.locator("table.casualties tbody tr").evaluate_all(
            "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")
        browser.close()

    (job,) = answer["jobs"]
    assert errors == [] and visible == [True] * 4
    assert all(box is not None and box["width"] > 0 and box["height"] > 0 for box in lines)
    assert crossing_text == f"crossed at {job['at']} on {job['casualty']}"
    assert rows == [[r["thing"], r["kind"], r["at"], "counted" if r["counted"] else "discounted", r["why"]]
                    for r in job["casualtyTable"]]
    assert any(r["counted"] for r in job["casualtyTable"])
