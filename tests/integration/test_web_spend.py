"""The spend page over a store seeded with several teams, features, lanes and days: its figures
are those of `halfrate report --format json` for the same period and team, exactly (the price
and speed of the realtime work, and the features the missed savings came from, included); a
member sees their team's spend only; each chart's table, and the price and speed table,
download as CSV (formula-safe); a period with no spend, or no realtime work, says so; a bad
date is one clear message."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import halfrate
from halfrate.api import Halfrate
from halfrate.store import Store
from tests.integration.test_cli import run
from tests.integration.test_report import D2, SEEDS, Seed, seed
from tests.integration.test_web import PASSWORD, client, sign_in

NOVEMBER = {"period": "dates", "start": "2026-11-01", "end": "2026-11-30"}
FIGURE = re.compile(r'data-figure="([a-z_]+)" data-usd="([0-9.-]+)"')
ROW = re.compile(
    r"<tr>\s*<td[^>]*>([^<]*)</td>(?:<td data-label=\"Lane\">([^<]*)</td>)?.*?"
    r'data-usd="([0-9.-]+)"',
    re.S,
)
MISSED_USD = ("Spent", "In a batch", "Missed")  # the missed-savings table's dollar columns
CELL = re.compile(r'<td data-label="([^"]+)"([^>]*)>(.*?)</td>', re.S)
USD = re.compile(r'data-usd="([0-9.-]+)"')
# A realtime call of a feature whose name a spreadsheet would run as a formula (it cost $0, so
# the seeded totals stay as they are).
FORMULA = '=HYPERLINK("http://example.com","x")'
SPEND_SEEDS = [
    *SEEDS,
    Seed("x1", FORMULA, "support", "realtime", D2, 0, 0, waiting=True, ttft=0.05, tibt=0.01),
]


@pytest.fixture
def hr(isolated_env: Path, sqlite_url: str) -> Iterator[Halfrate]:
    store = Store.open(sqlite_url)
    seed(store, SPEND_SEEDS)
    store.ledger.rebuild_rollups()
    store.close()
    with halfrate.connect(database_url=sqlite_url) as connection:
        connection.add_account("sam@example.com", PASSWORD, "support")
        connection.add_account("ada@example.com", PASSWORD, "ops", admin=True)
        yield connection


def report(url: str, by: str, *extra: str) -> dict[str, Any]:
    made = run(
        "report",
        "--by",
        by,
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-30",
        "--format",
        "json",
        *extra,
        env={"HALFRATE_DATABASE_URL": url},
    )
    assert made.returncode == 0, made.stderr
    answer: dict[str, Any] = json.loads(made.stdout)
    return answer


def page_of(web: TestClient, **asked: str) -> str:
    answer = web.get("/spend", params=asked)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def tables(page: str) -> dict[str, list[tuple[str, str, str]]]:
    """Each chart's table: (key, lane or "", spend) per row, as the page has them."""
    found = {}
    for name, body in re.findall(r'data-table="([a-z]+)">(.*?)</table>', page, re.S):
        rows = ROW.findall(body.split("<tbody>", 1)[1])
        found[name] = [(html.unescape(k), lane, spend) for k, lane, spend in rows]
    return found


def marked_rows(page: str, marker: str) -> list[dict[str, tuple[str, str | None]]]:
    """The rows of the table marked ``marker``: per column label, its text and its dollars
    (none when the page has no such table)."""
    if f"{marker}>" not in page:
        return []
    body = page.split(f"{marker}>", 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = {}
        for label, attributes, text in CELL.findall(row):
            dollars = USD.search(attributes)
            shown = html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
            cells[html.unescape(label)] = (shown, dollars.group(1) if dollars else None)
        rows.append(cells)
    return rows


def ms(p: dict[str, Any]) -> str:
    """Percentiles in seconds as the page shows them."""
    if not p["count"]:
        return "n/a"
    return f"{p['p50'] * 1000:,.0f} / {p['p95'] * 1000:,.0f} ms"


def speed_shown(page: str) -> list[tuple[Any, ...]]:
    return [
        (
            *(row[name][0] for name in ("Model", "Feature", "Lane", "Requests")),
            row["Spent"][1],
            row["Per 1,000 requests"][1],
            *(row[name][0] for name in ("Time to first token", "Time between tokens")),
            row["Queue wait"][0],
        )
        for row in marked_rows(page, "data-table-speed")
    ]


def speed_expected(made: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            *(r["model"], r["feature"], r["lane"], f"{r['requests']:,}", r["spend_usd"]),
            r["per_1000_requests_usd"],
            *(ms(r[f"{name}_seconds"]) for name in ("ttft", "tibt", "queue_wait")),
        )
        for r in made["price_performance"]
    ]


def assert_agrees(page: str, url: str, *extra: str) -> None:
    figures = dict(FIGURE.findall(page))
    lanes = report(url, "lane", *extra)
    assert figures["spend_usd"] == lanes["total"]["spend_usd"]
    assert figures["realtime_usd"] == lanes["total"]["realtime_usd"]
    assert figures["saved_usd"] == lanes["total"]["saved_usd"]
    assert figures["saved_by_dedup_usd"] == lanes["kpis"]["saved_by_dedup_usd"]
    assert figures["saved_by_response_cache_usd"] == lanes["kpis"]["saved_by_response_cache_usd"]
    assert figures["missed_amount_usd"] == lanes["missed_savings"]["amount_usd"]
    assert figures["prompt_cache_saved"] == lanes["total"]["prompt_cache_saved"]
    for row in lanes["rows"]:
        if row["key"] in ("batch", "flex"):
            assert figures[f"saved_by_{row['key']}"] == row["saved_usd"]
    assert lanes["price_performance"]
    assert speed_shown(page) == speed_expected(lanes)
    missed = [
        (row["Feature"][0], row["Attempts"][0], *(row[n][1] for n in MISSED_USD))
        for row in marked_rows(page, "data-table-missed")
    ]
    assert missed == [
        (f["feature"], f"{f['attempts']:,}", f["spend_usd"], f["batch_usd"], f["amount_usd"])
        for f in lanes["missed_savings"]["features"]
    ]
    shown = tables(page)
    for name, rows in shown.items():
        made = report(url, name, *extra)
        if name == "day":
            expected = [(r["key"], r["lane"], r["spend_usd"]) for r in made["by_lane"]]
        else:
            expected = [(r["key"], "", r["spend_usd"]) for r in made["rows"]]
        assert rows == expected, name


def test_an_admin_sees_every_team_as_the_report_does(hr: Halfrate, sqlite_url: str) -> None:
    web = client(hr)
    sign_in(web, "ada@example.com")
    page = page_of(web, **NOVEMBER)
    assert set(tables(page)) == {"day", "feature", "team", "model"}
    assert_agrees(page, sqlite_url)
    assert "10.5500" in page  # the seeded total, as people read it
    # One team, chosen by the admin.
    page = page_of(web, **NOVEMBER, team="marketing")
    assert set(tables(page)) == {"day", "feature", "model"}
    assert_agrees(page, sqlite_url, "--team", "marketing")


def test_a_member_sees_their_team_only(hr: Halfrate, sqlite_url: str) -> None:
    web = client(hr)
    sign_in(web, "sam@example.com")
    page = page_of(web, **NOVEMBER, team="marketing")  # asking for another team changes nothing
    assert "Every team" not in page
    assert set(tables(page)) == {"day", "feature", "model"}
    assert_agrees(page, sqlite_url, "--team", "support")
    assert "digest" not in page  # marketing's feature
    assert web.get("/spend.csv", params={"chart": "team", **NOVEMBER}).status_code == 404


def test_each_table_downloads_as_the_report_csv(hr: Halfrate, sqlite_url: str) -> None:
    web = client(hr)
    sign_in(web, "ada@example.com")
    answer = web.get("/spend.csv", params={"chart": "feature", **NOVEMBER})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    made = run(
        "report",
        "--by",
        "feature",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-30",
        "--format",
        "csv",
        env={"HALFRATE_DATABASE_URL": sqlite_url},
    )
    assert answer.text == made.stdout
    by_day = web.get("/spend.csv", params={"chart": "day", **NOVEMBER}).text.splitlines()
    assert by_day[0].startswith("day,lane,requests,")
    assert by_day[1].startswith("2026-11-02,")


def test_the_price_and_speed_table_downloads_formula_safe(hr: Halfrate, sqlite_url: str) -> None:
    web = client(hr)
    sign_in(web, "ada@example.com")
    page = page_of(web, **NOVEMBER)
    assert 'href="/spend.csv?chart=speed&amp;period=dates&amp;start=2026-11-01' in page
    answer = web.get("/spend.csv", params={"chart": "speed", **NOVEMBER})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "price-and-speed" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    made = report(sqlite_url, "lane")["price_performance"]
    assert [(r["model"], r["feature"], r["lane"]) for r in rows] == [
        (m["model"], "'" + FORMULA if m["feature"] == FORMULA else m["feature"], m["lane"])
        for m in made
    ]
    # The cell starts with an apostrophe: a spreadsheet shows it as text and runs nothing.
    assert "\"'=HYPERLINK(" in answer.text
    assert '"=HYPERLINK' not in answer.text
    for row, expected in zip(rows, made, strict=True):
        assert row["spend_usd"] == expected["spend_usd"]
        assert row["per_1000_requests_usd"] == (expected["per_1000_requests_usd"] or "")
        assert row["requests"] == str(expected["requests"])
        p95 = expected["ttft_seconds"]["p95"]
        assert row["ttft_p95_seconds"] == ("" if p95 is None else str(p95))
    # A member's download holds their team's calls alone, whatever the address asks.
    member = client(hr)
    sign_in(member, "sam@example.com")
    theirs = member.get("/spend.csv", params={"chart": "speed", **NOVEMBER, "team": "finance"})
    support = report(sqlite_url, "lane", "--team", "support")["price_performance"]
    assert len(list(csv.DictReader(io.StringIO(theirs.text)))) == len(support) == 2


def test_a_period_without_spend_says_so(hr: Halfrate) -> None:
    web = client(hr)
    sign_in(web, "ada@example.com")
    page = page_of(web, period="dates", start="2025-01-01", end="2025-01-31")
    assert "No spend in this period" in page
    assert "<canvas" not in page
    # A day of batch work alone: spend, but no realtime work to weigh, and no missed savings.
    page = page_of(web, period="dates", start="2026-11-04", end="2026-11-04")
    assert "No spend in this period" not in page
    assert "No realtime or flex work ran in 04 nov 2026 to 04 nov 2026" in page
    assert "data-table-speed" not in page
    assert "data-table-missed" not in page


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"period": "dates", "start": "", "end": "2026-11-30"}, "from: a date is needed"),
        (
            {"period": "dates", "start": "2026-13-01", "end": "2026-11-30"},
            "from: &#39;2026-13-01&#39; is not a date",
        ),
        (
            {"period": "dates", "start": "2026-11-30", "end": "2026-11-01"},
            "to: 2026-11-01 is before from",
        ),
        ({"period": "<script>"}, "period: &#39;&lt;script&gt;&#39; is not one of"),
    ],
)
def test_a_bad_period_is_one_clear_message(
    hr: Halfrate, asked: dict[str, str], message: str
) -> None:
    web = client(hr)
    sign_in(web, "ada@example.com")
    answer = web.get("/spend", params=asked)
    assert answer.status_code == 400
    assert message in answer.text
    assert "<script>" not in answer.text.split("<main", 1)[1]


def test_before_and_after_a_date_as_the_report_compares(hr: Halfrate, sqlite_url: str) -> None:
    web = client(hr)
    sign_in(web, "ada@example.com")
    page = page_of(web, **NOVEMBER, compare_feature="triage", compare_at="2026-11-03")
    made = run(
        "report", "--since", "2026-11-01", "--until", "2026-11-30", "--feature", "triage",
        "--compare-at", "2026-11-03", "--format", "json", env={"HALFRATE_DATABASE_URL": sqlite_url},
    )  # fmt: skip
    compared = json.loads(made.stdout)
    body = page.split("data-table-compare>", 1)[1].split("</table>", 1)[0]
    spent = re.findall(r'data-usd="([0-9.-]+)"', body)
    assert spent == [compared["before"]["spend_usd"], compared["after"]["spend_usd"]]
    change = compared["change_per_request"]
    assert f"Change per request: <strong>{change * 100:+.1f}%" in page
    assert 'data-chart="compare"' in page
    bad = web.get("/spend", params={**NOVEMBER, "compare_at": "someday"})
    assert bad.status_code == 400
    assert "Before and after:" in bad.text
