"""The web page in a real browser (Debian's Chromium through Playwright) against the real app,
store, in-server worker and sandbox: a spreadsheet with awkward content from upload to a
checked download, failed rows asked again from the job page, another team kept out, an admin
seeing every team, keyboard use, and an accessibility check (axe-core, run in the page) of every
page at laptop and phone width. Screenshots of each step at both widths go to
``test-artifacts/screenshots/`` for people to look at."""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import openpyxl
import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

import halfrate
from halfrate.api import Halfrate
from halfrate.sandbox import SandboxServer
from halfrate.web import create_app
from tests.integration.test_run import env_for

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "assets" / "axe.min.js"
SHOTS = ROOT / "test-artifacts" / "screenshots"
SIZES: dict[str, ViewportSize] = {
    "laptop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}
PASSWORD = "correct horse battery"
SECRET = "b" * 40
WAIT_MS = 60_000
# Assertions wait this long for the page (htmx swaps) before failing: room for a busy machine.
expect.set_options(timeout=20_000)

# Quotes, commas, a newline inside a cell, emoji, markup, a formula cell and a repeated row.
AWKWARD = [
    ["id", "customer", "message"],
    ["1", "Ana", 'She said "it broke", twice'],
    ["2", "Bo, Jr.", "Line one\nLine two"],
    ["3", "Chloé", "Love it 👍🎉"],
    ["4", '=HYPERLINK("http://evil.example","click")', "+SUM(A1:A9)"],
    ["5", "<b>Dee</b>", "<script>alert(1)</script>"],
    ["6", "Ana", 'She said "it broke", twice'],
    ["7", "Eve", "@mention -3 days late"],
    ["8", "Fay", "Où est ma commande ?"],
]


@dataclass
class Site:
    url: str
    sandbox: SandboxServer
    hr: Halfrate


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (make test installs it): /usr/bin/chromium")
        pytest.skip("Chromium is not installed (make test installs it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


def serve(
    hr: Halfrate, found: dict[str, object] | None = None, *, worker: bool = True
) -> Iterator[str]:
    """The web app (with its worker, unless ``worker`` is False) on a loopback port, in a
    thread of this process; ``found`` gets the app's one-time set-up token."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(hr, secret=SECRET, run_worker=worker)
    if found is not None:
        found["setup_token"] = app.state.web.setup_token
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the web server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def site_with(
    faults: str | None,
    monkeypatch: pytest.MonkeyPatch,
    latency: float = 0.05,
    cancel_latency: float | None = None,
) -> Iterator[Site]:
    with SandboxServer(latency=latency, faults=faults, cancel_latency=cancel_latency) as sandbox:
        for name, value in env_for(sandbox).items():
            monkeypatch.setenv(name, value)
        with halfrate.connect() as hr:
            hr.add_account("mia@example.com", PASSWORD, "Marketing")
            hr.add_account("sam@example.com", PASSWORD, "Support")
            hr.add_account("ada@example.com", PASSWORD, "Ops", admin=True)
            for url in serve(hr):
                yield Site(url, sandbox, hr)


@pytest.fixture
def site(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield from site_with(None, monkeypatch)


@pytest.fixture
def flaky_site(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A third of the batch lines fail as invalid: a final answer, not retried by itself."""
    yield from site_with("line_invalid=0.35,seed=11", monkeypatch)


@pytest.fixture
def slow_site(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """Batches take a minute (a cancel two seconds): a job stays running while the page is
    used."""
    yield from site_with(None, monkeypatch, latency=60.0, cancel_latency=2.0)


def context(browser: Browser, size: str = "laptop") -> BrowserContext:
    made = browser.new_context(viewport=SIZES[size], accept_downloads=True, bypass_csp=True)
    made.set_default_timeout(WAIT_MS)
    return made


class Served(Protocol):
    url: str


def sign_in(page: Page, site: Served, email: str) -> None:
    page.goto(f"{site.url}/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Sign out")).to_be_visible()


def shoot(page: Page, name: str) -> None:
    """The page at laptop and phone width, whole, into the artifacts folder."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(SIZES["laptop"])


def accessible(page: Page, where: str) -> None:
    """No serious or critical axe-core finding on the page, at either width."""
    for viewport in SIZES.values():
        page.set_viewport_size(viewport)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        found = page.evaluate("async () => (await window.axe.run(document)).violations")
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in found
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{where} at {viewport['width']} px: {bad}"
    page.set_viewport_size(SIZES["laptop"])


def awkward_csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(AWKWARD)
    return path


def upload(page: Page, path: Path) -> None:
    page.get_by_role("link", name="New job").click()
    page.get_by_label("Spreadsheet").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("table", name="The first rows")).to_be_visible()


def run_spreadsheet(page: Page, site: Site, table: Path, prompt: str) -> None:
    """Sign in, upload ``table``, type ``prompt``, wait for the price, and Run."""
    sign_in(page, site, "mia@example.com")
    upload(page, table)
    page.get_by_label("Prompt").fill(prompt)
    expect(page.locator("#estimate")).to_contain_text("By tomorrow saves")
    page.get_by_role("button", name="Run").click()


def write_prompt_by_clicking(page: Page) -> None:
    prompt = page.get_by_label("Prompt")
    prompt.fill("Write a one-line reply to ")
    page.get_by_role("button", name="customer", exact=True).click()
    prompt.press("End")
    prompt.press_sequentially(" who wrote: ")
    page.get_by_role("button", name="message", exact=True).click()
    expect(prompt).to_have_value("Write a one-line reply to {customer} who wrote: {message}")


def wait_until_done(page: Page) -> None:
    expect(page.get_by_role("heading", name="Done")).to_be_visible(timeout=WAIT_MS)


def download_csv(page: Page) -> list[dict[str, str]]:
    with page.expect_download() as event:
        page.get_by_role("link", name="Download CSV").click()
    path = event.value.path()
    assert path is not None
    text = Path(path).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def job_id_of(page: Page) -> str:
    found = re.search(r"/jobs/([^/?#]+)$", page.url)
    assert found is not None, page.url
    return found.group(1)


def test_a_spreadsheet_goes_from_upload_to_a_checked_download(
    browser: Browser, site: Site, tmp_path: Path
) -> None:
    table = awkward_csv(tmp_path / "awkward <img src=x onerror=alert(1)>.csv")
    with context(browser) as made:
        page = made.new_page()
        page.goto(site.url)
        shoot(page, "01-sign-in")
        accessible(page, "sign-in")
        sign_in(page, site, "mia@example.com")
        upload(page, table)
        shoot(page, "02-preview")
        accessible(page, "wizard with its preview")
        # Markup in a column name or a cell is text on the page, never markup.
        expect(page.get_by_role("button", name="<b>", exact=False)).to_have_count(0)
        expect(page.get_by_role("cell", name="<script>alert(1)</script>")).to_be_visible()

        write_prompt_by_clicking(page)
        estimate = page.locator("#estimate")
        expect(estimate).to_contain_text("By tomorrow saves")
        expect(estimate).to_contain_text("Write a one-line reply to Ana who wrote: She said")
        expect(estimate.get_by_text("Now", exact=True)).to_be_visible()
        shoot(page, "03-estimate")
        accessible(page, "wizard with its estimate")
        when = page.get_by_role("group", name="When do you need it?")
        expect(when.get_by_label("By tomorrow")).to_be_checked()
        page.get_by_label("Model").select_option(index=0)

        page.get_by_role("button", name="Run").click()
        expect(page).to_have_url(re.compile(r"/jobs/[^/]+$"))
        shoot(page, "04-running")
        wait_until_done(page)
        expect(page.get_by_text(re.compile(r"saved \$"))).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("Done")
        shoot(page, "05-done")
        accessible(page, "job page when done")
        job = job_id_of(page)

        rows = download_csv(page)
        assert len(rows) == len(AWKWARD) - 1
        for given, got in zip(AWKWARD[1:], rows, strict=True):
            assert got["id"] == given[0]
            for column, value in zip(("customer", "message"), given[1:], strict=True):
                expected = "'" + value if value[:1] in "=+-@" else value
                assert got[column] == expected  # formulas neutralised, everything else as given
            assert got["status"] == "succeeded", got
            assert got["answer"].strip()
        assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())
        # The repeated row was asked once (sandbox billing), and every row paid once at most.
        charged = [e for e in site.sandbox.app.state.sandbox.ledger.entries() if e["charged"]]
        assert len(charged) == len(AWKWARD) - 2

        page.get_by_role("link", name="Jobs").click()
        expect(page.get_by_role("link", name=re.compile("awkward"))).to_be_visible()
        shoot(page, "06-jobs")
        accessible(page, "jobs list")

    # Another team's member: not found, for the page and the download alike.
    with context(browser) as other:
        page = other.new_page()
        sign_in(page, site, "sam@example.com")
        for path in (f"/jobs/{job}", f"/jobs/{job}/download.csv", f"/jobs/{job}/download.xlsx"):
            answer = page.goto(f"{site.url}{path}")
            assert answer is not None, path
            assert answer.status == 404, path
        page.goto(f"{site.url}/jobs")
        expect(page.get_by_role("link", name=re.compile("awkward"))).to_have_count(0)
        page.goto(f"{site.url}/jobs/{job}")
        shoot(page, "07-not-found")
        accessible(page, "not found")

    # An admin sees every team's jobs.
    with context(browser) as admin:
        page = admin.new_page()
        sign_in(page, site, "ada@example.com")
        page.goto(f"{site.url}/jobs")
        expect(page.get_by_role("link", name=re.compile("awkward"))).to_be_visible()
        page.get_by_role("link", name=re.compile("awkward")).click()
        wait_until_done(page)
        page.get_by_role("link", name="Sign out").click()
        expect(page.get_by_label("Email")).to_be_visible()


def test_failed_rows_are_asked_again_from_the_job_page(
    browser: Browser, flaky_site: Site, tmp_path: Path
) -> None:
    table = tmp_path / "tickets.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ticket"])
        writer.writerows((str(n), f"Ticket {n}: the app shows error {n * 7}") for n in range(24))
    with context(browser) as made:
        page = made.new_page()
        run_spreadsheet(page, flaky_site, table, "Which team should answer this? {ticket}")
        wait_until_done(page)
        expect(page.get_by_role("heading", name="Rows that failed")).to_be_visible()
        shoot(page, "08-failed-rows")
        accessible(page, "job page with failed rows")
        before = download_csv(page)
        failed = [row["id"] for row in before if row["status"] == "failed"]
        assert 0 < len(failed) < 24
        ledger = flaky_site.sandbox.app.state.sandbox.ledger
        paid_before = sum(1 for e in ledger.entries() if e["charged"])

        page.get_by_role("button", name="Re-run failed rows").click()
        wait_until_done(page)
        after = download_csv(page)
        assert [row["id"] for row in after] == [row["id"] for row in before]
        for old, new in zip(before, after, strict=True):
            if old["status"] == "succeeded":
                assert new == old  # answered rows are kept as they were, not asked again
        paid_after = sum(1 for e in ledger.entries() if e["charged"])
        asked_again = paid_after - paid_before
        still_failed = sum(1 for row in after if row["status"] == "failed")
        assert asked_again == len(failed) - still_failed  # only the failed rows were paid for
        assert still_failed < len(failed)
        receipt = page.locator(".receipt")
        expect(receipt).to_contain_text("saved $")

        # The rerun is part of its run: one line in the list, its figures included.
        page.get_by_role("link", name="Jobs").click()
        expect(page.get_by_role("link", name="tickets.csv")).to_have_count(1)
        page.get_by_label("Status").select_option("running")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_text("No job matches.")).to_be_visible()
        page.get_by_label("Status").select_option("done")
        page.get_by_label("Search").fill("tickets")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("link", name="tickets.csv")).to_have_count(1)


def test_the_wizard_works_by_keyboard_alone(browser: Browser, site: Site, tmp_path: Path) -> None:
    table = awkward_csv(tmp_path / "keys.csv")
    with context(browser, "phone") as made:
        page = made.new_page()
        page.goto(f"{site.url}/signin")
        page.keyboard.press("Tab")  # the skip link first
        expect(page.get_by_role("link", name="Skip to the page")).to_be_focused()
        page.get_by_label("Email").focus()
        page.keyboard.type("mia@example.com")
        page.keyboard.press("Tab")
        expect(page.get_by_label("Password")).to_be_focused()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("link", name="Sign out")).to_be_visible()
        page.goto(f"{site.url}/jobs/new")
        page.get_by_label("Spreadsheet").set_input_files(str(table))
        page.get_by_label("Spreadsheet").focus()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Upload")).to_be_focused()
        page.keyboard.press("Enter")
        chip = page.get_by_role("button", name="message", exact=True)
        chip.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_label("Prompt")).to_be_focused()
        expect(page.get_by_label("Prompt")).to_have_value("{message}")
        page.get_by_label("Model").focus()
        page.keyboard.press("Tab")  # into the When group: arrows move the choice
        expect(page.get_by_label("By tomorrow")).to_be_focused()
        page.keyboard.press("ArrowLeft")
        expect(page.get_by_label("Now", exact=True)).to_be_checked()
        expect(page.locator("#estimate .chosen")).to_contain_text("Now")
        shoot(page, "09-keyboard-now")


def test_the_set_up_link_makes_the_first_admin(
    browser: Browser, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(latency=0.05) as sandbox:
        for name, value in env_for(sandbox).items():
            monkeypatch.setenv(name, value)
        with halfrate.connect() as hr:
            found: dict[str, object] = {}
            for url in serve(hr, found):
                with context(browser) as made:
                    page = made.new_page()
                    page.goto(f"{url}/setup?token={found['setup_token']}")
                    shoot(page, "10-set-up")
                    accessible(page, "set-up")
                    page.get_by_label("Email").fill("ada@example.com")
                    page.get_by_label("Password", exact=True).fill(PASSWORD)
                    page.get_by_label("Password again").fill(PASSWORD + "!")
                    page.get_by_role("button", name="Create the admin").click()
                    expect(page.get_by_role("alert")).to_contain_text("The two passwords differ")
                    page.get_by_label("Password", exact=True).fill(PASSWORD)
                    page.get_by_label("Password again").fill(PASSWORD)
                    page.get_by_role("button", name="Create the admin").click()
                    expect(page.get_by_role("heading", name="New job")).to_be_visible()
                    answer = page.goto(f"{url}/setup?token={found['setup_token']}")
                    assert answer is not None
                    assert answer.status == 404  # the link works once


def test_a_workbook_asks_which_sheet(browser: Browser, site: Site, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "Notes"
    first.append(["note"])
    first.append(["not this one"])
    orders = book.create_sheet("Orders")
    orders.append(["order", "complaint"])
    for n in range(6):
        orders.append([1000 + n, f"Order {n} arrived broken"])
    path = tmp_path / "book.xlsx"
    book.save(path)
    with context(browser) as made:
        page = made.new_page()
        sign_in(page, site, "mia@example.com")
        upload(page, path)
        page.get_by_label("Sheet").select_option("Orders")
        page.get_by_role("button", name="Use this sheet").click()
        expect(page.get_by_role("button", name="complaint", exact=True)).to_be_visible()
        expect(page.get_by_text("6 rows")).to_be_visible()
        shoot(page, "11-workbook-sheet")
        accessible(page, "wizard with a workbook")
        page.get_by_label("Prompt").fill("Reply to: {complaint}")
        expect(page.locator("#estimate")).to_contain_text("on 6 rows")


def test_a_running_job_is_cancelled_only_after_a_confirmation(
    browser: Browser, slow_site: Site, tmp_path: Path
) -> None:
    table = awkward_csv(tmp_path / "later.csv")
    with context(browser) as made:
        page = made.new_page()
        run_spreadsheet(page, slow_site, table, "Summarise: {message}")
        expect(page.get_by_role("heading", name="Running")).to_be_visible()
        expect(page.get_by_text(re.compile(r"Expected by .* at the latest"))).to_be_visible()
        shoot(page, "12-running-batch")
        asked: list[str] = []

        def say_no(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", say_no)
        page.get_by_role("button", name="Cancel job").click()
        expect(page.get_by_role("heading", name="Running")).to_be_visible()  # said no
        assert asked == ["Cancel this job? Rows already answered are kept."]
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancel job").click()
        # Its batch is cancelled at the provider by the worker: the page follows until then.
        expect(page.get_by_role("heading", name="Cancelled")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
        expect(page.get_by_text("0 of 8 rows answered, 8 cancelled.")).to_be_visible()
        shoot(page, "13-cancelled")
        accessible(page, "a cancelled job")
        rows = download_csv(page)
        assert len(rows) == len(AWKWARD) - 1
        assert {row["status"] for row in rows} == {"cancelled"}
