"""What the providers' prompt caches saved, in the report and on the spend page: each group's
tokens priced with and without the cache at its lane's own rates, checked against a hand
computation from the providers' published prices (per million tokens), on both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import halfrate
from halfrate.ledger.report import ReportMaker
from halfrate.ledger.report_json import report_json
from halfrate.store import Store
from halfrate.store.ledger_reads import Scope
from tests.integration.test_report import D1, D2, USD, Seed, seed
from tests.integration.test_web import PASSWORD, client, sign_in

M = Decimal(1_000_000)
CACHED = [
    # gpt-5-mini in a batch: 200k of 300k input read from the cache. Batch input $0.125/M,
    # cached batch input $0.0125/M: saved 200k x 0.1125/M.
    Seed(
        "p1", "rag", "search", "batch", D1, USD, USD, model="gpt-5-mini",
        input_tokens=300_000, cached_tokens=200_000, output_tokens=0,
    ),
    # claude-haiku-4-5 in a batch: of 100k input, 50k read ($0.05/M) and 40k written with the
    # one-hour lifetime ($1.00/M); the other 10k at $0.50/M. Without a cache: 100k at $0.50/M.
    Seed(
        "p2", "rag", "search", "batch", D1, USD, USD, model="claude-haiku-4-5",
        provider="anthropic", input_tokens=100_000, cached_tokens=50_000,
        cache_write_tokens=40_000, cache_write_1h_tokens=40_000, output_tokens=0,
    ),
    # claude-haiku-4-5 realtime: 20k written for five minutes ($1.25/M) and never read back:
    # dearer than plain input ($1.00/M), a negative saving.
    Seed(
        "p3", "bot", "support", "realtime", D2, USD, USD, model="claude-haiku-4-5",
        provider="anthropic", input_tokens=20_000, cache_write_tokens=20_000, output_tokens=0,
    ),
    # gpt-4o-mini realtime: all 100k read ($0.075/M instead of $0.15/M).
    Seed(
        "p4", "bot", "support", "realtime", D2, USD, USD,
        input_tokens=100_000, cached_tokens=100_000, output_tokens=0,
    ),
    # gpt-4o-mini in a batch: its batch prices list no cached rate, so a cached token costs
    # the batch input rate ($0.075/M either way): nothing saved.
    Seed(
        "p5", "bot", "support", "batch", D2, USD, USD,
        input_tokens=50_000, cached_tokens=50_000, output_tokens=0,
    ),
    # No cache touched: in no prompt-cache figure.
    Seed("p6", "plain", "support", "batch", D2, USD, USD, input_tokens=10_000),
]  # fmt: skip

RAG = 200_000 * Decimal("0.1125") / M + (
    100_000 * Decimal("0.50") / M
    - (10_000 * Decimal("0.50") + 50_000 * Decimal("0.05") + 40_000 * Decimal("1.00")) / M
)
BOT = (20_000 * Decimal("1.00") - 20_000 * Decimal("1.25")) / M + 100_000 * Decimal("0.075") / M


@pytest.fixture
def cached_store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    seed(opened, CACHED)
    opened.ledger.rebuild_rollups()
    try:
        yield opened
    finally:
        opened.close()


def test_prompt_cache_savings_equal_a_hand_computation(cached_store: Store) -> None:
    assert Decimal("0.025") == RAG
    assert Decimal("0.0025") == BOT
    made = report_json(ReportMaker(cached_store).report("feature", Scope(), now=D2 + 86400))
    rows = {row["key"]: row for row in made["rows"]}
    assert Decimal(rows["rag"]["prompt_cache_saved"]) == RAG
    assert Decimal(rows["bot"]["prompt_cache_saved"]) == BOT
    assert Decimal(rows["plain"]["prompt_cache_saved"]) == 0
    assert Decimal(made["total"]["prompt_cache_saved"]) == RAG + BOT
    assert rows["rag"]["prompt_cache_hit_rate"] == pytest.approx(250_000 / 400_000)
    assert rows["bot"]["prompt_cache_hit_rate"] == pytest.approx(150_000 / 170_000)
    assert rows["plain"]["prompt_cache_hit_rate"] == 0.0
    by_lane = {(r["key"], r["lane"]): Decimal(r["prompt_cache_saved"]) for r in made["by_lane"]}
    assert by_lane[("bot", "realtime")] == BOT
    assert by_lane[("bot", "batch")] == 0
    # A period holding part of a day reads that day's attempts, to the same figures.
    half = ReportMaker(cached_store).report("lane", Scope(since=D2 - 3600), now=D2 + 86400)
    assert Decimal(report_json(half)["total"]["prompt_cache_saved"]) == BOT


def test_the_spend_page_shows_what_prompt_caching_saved(
    isolated_env: Path, sqlite_url: str
) -> None:
    with halfrate.connect(database_url=sqlite_url) as hr:
        seed(hr.store, CACHED)
        hr.store.ledger.rebuild_rollups()
        hr.add_account("ada@example.com", PASSWORD, "ops", admin=True)
        web = client(hr)
        sign_in(web, "ada@example.com")
        page = web.get(
            "/spend", params={"period": "dates", "start": "2026-11-01", "end": "2026-11-30"}
        )
        assert page.status_code == 200
        figure = re.search(r'data-figure="prompt_cache_saved" data-usd="([0-9.-]+)"', page.text)
        assert figure is not None
        assert Decimal(figure.group(1)) == RAG + BOT
        assert "of input tokens read from a cache" in page.text
