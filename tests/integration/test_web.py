"""The web page over HTTP (the real app, store and sandbox; the browser tests drive the same
pages in Chromium): sign-in, CSRF, the rate limit, the one-time set-up link, uploads of every
bad kind, a prompt naming a missing column, a double-clicked Run, another team's job and
download (not found, like a job that does not exist), and everything a model or a user writes
shown as text."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient

import halfrate
from halfrate.api import Halfrate, OwnedJob
from halfrate.sandbox import SandboxServer
from halfrate.web import create_app, pages
from halfrate.web.job_view import RunView
from tests.integration.test_run import env_for

PASSWORD = "correct horse battery"
SECRET = "s" * 40
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.1) as server:
        for name, value in env_for(server).items():
            monkeypatch.setenv(name, value)
        yield server


@pytest.fixture
def hr(isolated_env: Path, sandbox: SandboxServer) -> Iterator[Halfrate]:
    with halfrate.connect(upload_max_mb=1) as connection:
        connection.add_account("mia@example.com", PASSWORD, "Marketing")
        connection.add_account("sam@example.com", PASSWORD, "Support")
        connection.add_account("ada@example.com", PASSWORD, "Ops", admin=True)
        yield connection


def client(hr: Halfrate, *, worker: bool = False) -> TestClient:
    return TestClient(create_app(hr, secret=SECRET, run_worker=worker), follow_redirects=False)


def csrf(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, page[:500]
    return found.group(1)


def sign_in(web: TestClient, email: str) -> str:
    token = csrf(web.get("/signin").text)
    answer = web.post("/signin", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.text
    return csrf(web.get("/jobs/new").text)


def upload(web: TestClient, token: str, name: str, content: bytes) -> tuple[int, str]:
    answer = web.post(
        "/uploads", data={"csrf_token": token}, files={"spreadsheet": (name, content, "text/csv")}
    )
    return answer.status_code, answer.headers.get("location", "") or answer.text


TABLE = b'id,"<b>col</b>"\n1,"=HYPERLINK(""http://x"")"\n2,"<script>alert(1)</script>"\n'


def test_a_page_needs_a_sign_in_and_comes_back_to_it_after(hr: Halfrate) -> None:
    web = client(hr)
    answer = web.get("/jobs/new?upload=up_xyz")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fjobs%2Fnew%3Fupload%3Dup_xyz"
    token = csrf(web.get("/signin").text)
    signed = web.post(
        "/signin",
        data={"email": "MIA@example.com", "password": PASSWORD, "csrf_token": token,
              "next": "/jobs/new?upload=up_xyz"},
    )  # fmt: skip
    assert signed.headers["location"] == "/jobs/new?upload=up_xyz"
    cookie = signed.headers["set-cookie"].lower()
    for part in ("httponly", "samesite=lax", "max-age="):
        assert part in cookie
    evil = web.post(
        "/signin",
        data={"email": "mia@example.com", "password": PASSWORD, "csrf_token": token,
              "next": "//evil.example/"},
    )  # fmt: skip
    assert evil.status_code in (303, 403)
    if evil.status_code == 303:
        assert evil.headers["location"] == "/jobs/new"


def test_forms_without_the_sessions_token_are_refused(hr: Halfrate) -> None:
    web = client(hr)
    web.get("/signin")
    refused = web.post("/signin", data={"email": "mia@example.com", "password": PASSWORD})
    assert refused.status_code == 403
    assert "expired" in refused.text
    stale = web.post(
        "/signin", data={"email": "mia@example.com", "password": PASSWORD, "csrf_token": "x" * 43}
    )
    assert stale.status_code == 403
    sign_in(web, "mia@example.com")
    assert web.post("/signout").status_code == 403  # signing out is a form too


def test_wrong_passwords_in_a_row_are_rate_limited(hr: Halfrate) -> None:
    web = client(hr)
    token = csrf(web.get("/signin").text)
    for _ in range(5):
        wrong = web.post(
            "/signin",
            data={"email": "sam@example.com", "password": "nope" * 3, "csrf_token": token},
        )
        assert wrong.status_code == 401
        assert "do not match" in wrong.text
    limited = web.post(
        "/signin", data={"email": "sam@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert limited.status_code == 429
    assert "Too many wrong passwords" in limited.text


def test_the_set_up_link_makes_the_first_admin_once(isolated_env: Path) -> None:
    with halfrate.connect() as fresh:
        app = create_app(fresh, secret=SECRET, run_worker=False)
        token = app.state.web.setup_token
        web = TestClient(app, follow_redirects=False)
        assert web.get("/setup?token=wrong").status_code == 404
        form = csrf(web.get(f"/setup?token={token}").text)
        made = web.post(
            "/setup",
            data={"token": token, "email": "root@example.com", "team": "Ops",
                  "password": PASSWORD, "password_again": PASSWORD, "csrf_token": form},
        )  # fmt: skip
        assert made.status_code == 303
        assert fresh.sign_in("root@example.com", PASSWORD) is not None
        assert web.get(f"/setup?token={token}").status_code == 404  # used once


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("notes.txt", b"hello", "upload a .csv, .tsv or .xlsx spreadsheet"),
        ("empty.csv", b"", "empty.csv is empty"),
        ("header.csv", b"a,b\n", "no rows with values"),
        ("big.csv", b"a\n" + b"x" * (1024 * 1024 + 10), "larger than the 1 MB limit"),
        ("fake.xlsx", b"not a zip", "not a readable .xlsx workbook"),
        ("../../etc/passwd.csv", b"a\n1\n", ""),  # the name is shown, never a path
    ],
)
def test_bad_uploads_are_one_clear_message_and_nothing_is_kept(
    hr: Halfrate, isolated_env: Path, name: str, content: bytes, needle: str
) -> None:
    web = client(hr)
    token = sign_in(web, "mia@example.com")
    status, said = upload(web, token, name, content)
    if not needle:
        assert status == 303
        assert not (isolated_env.parent / "etc").exists()
        return
    assert status == 400
    assert needle in said.replace("&#39;", "'")
    assert str(isolated_env) not in said  # no server path in a message
    uploads = isolated_env / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())  # nothing kept


def test_a_missing_column_is_named_on_the_page_and_escaped(hr: Halfrate) -> None:
    web = client(hr)
    token = sign_in(web, "mia@example.com")
    status, where = upload(web, token, "<img src=x onerror=alert(1)>.csv", TABLE)
    assert status == 303
    upload_id = where.split("upload=")[1]
    page = web.get(where).text
    assert "<b>col</b>" not in page
    assert "&lt;b&gt;col&lt;/b&gt;" in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in page
    assert "<script>alert(1)</script>" not in page
    priced = web.post(
        "/jobs/new/estimate",
        data={"csrf_token": token, "upload": upload_id, "prompt": "Sort {nope}"},
    )
    assert priced.status_code == 200
    assert "Prompt, character 6: {nope} is not a column" in priced.text
    assert 'role="alert"' in priced.text
    plain = web.post(
        "/jobs/new/estimate", data={"csrf_token": token, "upload": upload_id, "prompt": "Sort"}
    )
    assert "Prompt names no column" in plain.text  # the page's field, not the command's flag
    assert "--prompt" not in plain.text


def test_the_estimate_gives_both_prices_the_saving_and_when_each_would_end(hr: Halfrate) -> None:
    web = client(hr)
    token = sign_in(web, "mia@example.com")
    _, where = upload(web, token, "t.csv", TABLE)
    asked = {"csrf_token": token, "upload": where.split("upload=")[1], "prompt": "Sort {id}"}
    priced = web.post("/jobs/new/estimate", data=asked).text
    assert "Sort 1" in priced  # the prompt as the first rows make it
    amounts = re.findall(r'<p class="amount">\$([0-9.]+)</p>', priced)
    assert len(amounts) == 2
    now, tomorrow = (float(a) for a in amounts)
    assert tomorrow < now
    assert re.search(r"By tomorrow saves \$[0-9.]+ \(50%\) on 2 rows", priced)
    assert "expected by <time datetime=" in priced  # Now: a forecast
    assert "at the latest; usually much sooner" in priced  # By tomorrow: the batch window
    assert "16 rows at a time" in priced  # what the times assume
    assert "prompt cache" not in priced  # short prompts share nothing worth caching
    # Long shared instructions: the provider's prompt cache is expected to serve them.
    instructions = "Sort each ticket by the team that owns the part that failed. " * 120
    cached = web.post("/jobs/new/estimate", data={**asked, "system": instructions}).text
    said = re.search(
        r"bill about ([0-9,]+) tokens at its lower cached rate\. With that: "
        r"Now about \$([0-9.]*[0-9]); By tomorrow stays \$([0-9.]*[0-9]) \(at the batch price the "
        r"cache saves nothing here\)",
        cached,
    )
    assert said is not None
    full = [float(a) for a in re.findall(r'<p class="amount">\$([0-9.]+)</p>', cached)]
    assert int(said[1].replace(",", "")) > 1_000  # the second row reads the first's prefix
    assert float(said[2]) < full[0]
    # gpt-4o-mini's batch table lists no cached rate: the page says so instead of a discount.
    assert float(said[3]) == full[1]
    # Claude's batch price halves its cache rates too: over enough rows both prices come down.
    _, more = upload(web, token, "more.csv", b"id\n" + b"".join(b"%d\n" % i for i in range(12)))
    claude = {
        **asked,
        "upload": more.split("upload=")[1],
        "system": instructions,
        "model": "claude-haiku-4-5",
    }
    cheaper = web.post("/jobs/new/estimate", data=claude).text
    both = re.search(
        r"With that: Now about \$([0-9.]*[0-9]), By tomorrow about \$([0-9.]*[0-9])\.", cheaper
    )
    assert both is not None
    plain = [float(a) for a in re.findall(r'<p class="amount">\$([0-9.]+)</p>', cheaper)]
    assert float(both[1]) < plain[0]
    assert float(both[2]) < plain[1]


def test_run_twice_makes_one_job_that_other_teams_cannot_see(hr: Halfrate) -> None:
    with client(hr, worker=True) as web:
        token = sign_in(web, "mia@example.com")
        _, where = upload(web, token, "tickets.csv", TABLE)
        form = {"csrf_token": token, "upload": where.split("upload=")[1],
                "prompt": "Sort: {<b>col</b>}", "when": "tomorrow"}  # fmt: skip
        first = web.post("/jobs/new/run", data=form)
        second = web.post("/jobs/new/run", data=form)  # a double click
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        job_url = first.headers["location"]
        assert len(hr.jobs_for(hr.sign_in("mia@example.com", PASSWORD))) == 1  # type: ignore[arg-type]
        deadline = time.monotonic() + 30
        while "Done" not in web.get(job_url).text:
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.3)
        page = web.get(job_url).text
        assert "saved $" in page.replace("saved $", "saved $")
        download = web.get(f"{job_url}/download.csv")
        assert download.status_code == 200
        assert "'=HYPERLINK" in download.text  # a formula cell stays text in the export
        assert "tickets.answers.csv" in download.headers["content-disposition"]

    other = client(hr)
    sign_in(other, "sam@example.com")
    for path in (job_url, f"{job_url}/progress", f"{job_url}/download.csv", "/jobs/job_nope"):
        assert other.get(path).status_code == 404, path
    assert "tickets.csv" not in other.get("/jobs").text
    admin = client(hr)
    sign_in(admin, "ada@example.com")
    assert admin.get(job_url).status_code == 200
    assert "tickets.csv" in admin.get("/jobs").text


def test_a_form_sent_after_the_sign_in_expired_leads_back_to_its_page(hr: Halfrate) -> None:
    web = client(hr)
    token = sign_in(web, "mia@example.com")
    _, where = upload(web, token, "t.csv", TABLE)
    web.cookies.clear()  # the sign-in is gone (expired, or signed out elsewhere)
    answer = web.post(
        "/jobs/new/run",
        data={"csrf_token": token, "upload": where.split("upload=")[1], "prompt": "{id}"},
        headers={"referer": f"http://testserver{where}"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=%2Fjobs%2Fnew%3Fupload%3Dup_")
    token = csrf(web.get("/signin").text)
    back = web.post(
        "/signin",
        data={"email": "mia@example.com", "password": PASSWORD, "csrf_token": token,
              "next": where},
    )  # fmt: skip
    assert back.headers["location"] == where
    assert "t.csv" in web.get(where).text  # the upload is kept


def test_a_job_waiting_for_its_batch_says_by_when_at_the_latest(hr: Halfrate) -> None:
    web = client(hr)  # no worker: the job stays where Run left it
    token = sign_in(web, "mia@example.com")
    _, where = upload(web, token, "t.csv", TABLE)
    asked = {"csrf_token": token, "upload": where.split("upload=")[1], "prompt": "Sort {id}"}
    job_url = web.post("/jobs/new/run", data=asked).headers["location"]
    page = web.get(f"{job_url}/progress").text
    assert "Running" in page
    assert "0 of 2 rows finished (0%)" in page
    assert re.search(r'Expected by <time datetime="[0-9T:-]+Z" data-local>', page)
    assert "at the latest (the batch window)" in page
    assert "Working on it at the batch price" in page
    assert 'hx-trigger="every 2s"' in page  # it keeps updating until the job ends
    assert "Cancel job" in page
    # Downloads work at any time: the rows not answered yet are marked pending.
    table = web.get(f"{job_url}/download.csv")
    assert table.status_code == 200
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [row["status"] for row in rows] == ["pending", "pending"]
    assert rows[0]["<b>col</b>"] == '\'=HYPERLINK("http://x")'  # text, not a formula
    book = web.get(f"{job_url}/download.xlsx")
    assert book.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[0] == ["id", "<b>col</b>", "answer", "status", "error"]
    assert [row[3] for row in cells[1:]] == ["pending", "pending"]
    formula = sheet.cell(row=2, column=2)
    assert formula.data_type == "s"  # a text cell: Excel shows it, never runs it
    assert formula.value == '=HYPERLINK("http://x")'
    now = dict(asked, when="now", prompt="Sort this: {id}")
    realtime_url = web.post("/jobs/new/run", data=now).headers["location"]
    page = web.get(f"{realtime_url}/progress").text
    assert "Working on it now, at the realtime price" in page
    assert "known once the first rows are answered" in page


def test_what_a_model_wrote_is_shown_as_text(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every structured answer breaks its columns: the reasons quote what the model wrote.
    with SandboxServer(latency=0.01, faults="line_schema_break=1,seed=3") as server:
        for name, value in env_for(server).items():
            monkeypatch.setenv(name, value)
        with halfrate.connect() as hr:
            hr.add_account("mia@example.com", PASSWORD, "Marketing")
            with client(hr, worker=True) as web:
                token = sign_in(web, "mia@example.com")
                hostile = (
                    b'id,text\n1,"<script>alert(1)</script> tell me more"\n'
                    b'2,"<img src=x onerror=alert(2)> send the invoice"\n'
                )
                _, where = upload(web, token, "t.csv", hostile)
                form = {"csrf_token": token, "upload": where.split("upload=")[1],
                        "prompt": "Sort: {text}", "answer": "columns",
                        "columns": "kind: billing|bug, note"}  # fmt: skip
                job_url = web.post("/jobs/new/run", data=form).headers["location"]
                deadline = time.monotonic() + 30
                while "Rows that failed" not in (page := web.get(job_url).text):
                    assert time.monotonic() < deadline, page[-2000:]
                    time.sleep(0.3)
                download = web.get(f"{job_url}/download.csv").text
    # Requests that succeeded, rows that failed: counted as rows, each with its reason.
    assert "0 of 2 rows answered, 2 failed." in page
    assert page.count("the answer ") == 2  # "... is not JSON: ...", "... does not fit ..."
    assert download.count(",failed,") == 2
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page


def test_markup_a_model_writes_is_text_on_the_job_page() -> None:
    # The sandbox answers in plain words; a real model may write anything.
    view = RunView(3, 3, 1, True, at_batch_price=True, expected=None, paid=10, realtime=20)
    said = 'not JSON: <script>alert("x")</script><img src=x onerror=alert(1)>'
    job = OwnedJob("job_1", "run-1", 0.0, "Marketing", "mia@example.com", "<b>t</b>.csv")
    html = pages.render_text(
        "_progress.html",
        {"job": job, "view": view, "state": "done", "failed": [{"row": 2, "error": said}]},
    )
    assert "<script>" not in html
    assert "<img src=x" not in html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    )
