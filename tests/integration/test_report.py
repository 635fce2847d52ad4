"""Reports over a store seeded with several features, teams, lanes, models and days, on SQLite
and PostgreSQL: exact sums to the nano-dollar, time ranges, missed savings, before/after, KPIs,
and the command line's three formats and its refusals."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from halfrate.ledger.report import ReportMaker
from halfrate.store import Store
from halfrate.store.ledger_reads import Scope
from halfrate.store.tables import attempts, jobs, requests, routes
from tests.integration.test_cli import assert_one_line_error, run

DAY = 86400.0
D1 = datetime(2026, 11, 2, 12, tzinfo=UTC).timestamp()  # a Monday, noon UTC
D2 = D1 + DAY
D3 = D1 + 2 * DAY
USD = 10**9  # nano-dollars per dollar


@dataclass(frozen=True)
class Seed:
    key: str
    feature: str | None
    team: str
    lane: str
    at: float
    cost: int | None  # nano-dollars; None: unpriced
    realtime: int | None
    model: str = "gpt-4o-mini"
    provider: str = "openai"
    input_tokens: int | None = 1000
    cached_tokens: int = 0
    output_tokens: int = 500
    waiting: bool = False
    deadline_after: float | None = None  # seconds after submission
    moved_by: str | None = None
    ttft: float | None = None
    queue_seconds: float | None = None
    outcome: str = "succeeded"
    tibt: float | None = None
    cache_write_tokens: int = 0  # of input_tokens, written to a prompt cache
    cache_write_1h_tokens: int = 0  # of those, with the one-hour lifetime


SEEDS = [
    # triage: nightly batches on three days, one retry that the provider did not bill
    Seed("t1", "triage", "support", "batch", D1, 2 * USD, 4 * USD, queue_seconds=10.0),
    Seed("t2", "triage", "support", "batch", D2, 1 * USD, 2 * USD, queue_seconds=30.0),
    Seed("t3", "triage", "support", "batch", D3, 3 * USD, 6 * USD, cached_tokens=400),
    Seed("t4", "triage", "support", "batch", D3, 0, 0, input_tokens=None, outcome="retry"),
    # chat: a person waits, realtime price
    Seed("c1", "chat", "support", "realtime", D1, USD // 2, USD // 2, waiting=True, ttft=0.2),
    Seed("c2", "chat", "support", "realtime", D2, USD // 2, USD // 2, waiting=True, ttft=0.4),
    # digest: realtime though nobody waits and there was time: missed savings (1M in, 1M out of
    # gpt-4o-mini: $0.75 realtime, $0.375 in a batch)
    Seed(
        "d1",
        "digest",
        "marketing",
        "realtime",
        D2,
        750_000_000,
        750_000_000,
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        ttft=0.3,
    ),
    # not missed: due in 2 hours, or moved there by the deadline guard
    Seed("d2", "digest", "marketing", "realtime", D2, USD, USD, deadline_after=7200, ttft=0.1),
    Seed(
        "d3", "digest", "marketing", "realtime", D2, USD, USD, moved_by="deadline_guard", ttft=0.5
    ),
    # a fine-tune nobody has a price for
    Seed("u1", "digest", "marketing", "batch", D3, None, None, model="ft:gpt-4o-mini:acme"),
    # flex: batch price, synchronous
    Seed("f1", None, "finance", "flex", D1, 8 * USD // 10, 16 * USD // 10, ttft=2.0),
]


def seed(store: Store, rows: list[Seed]) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.insert(jobs).values(id="job1", name="seeded", created_at=D1 - DAY))
        for i, s in enumerate(rows, start=1):
            conn.execute(
                sa.insert(routes).values(
                    id=i,
                    lane=s.lane,
                    model=s.model,
                    waiting=s.waiting,
                    policy_source="test",
                    explanation="seeded",
                    created_at=s.at - 100,
                )
            )
            conn.execute(
                sa.insert(requests).values(
                    id=i,
                    job_id="job1",
                    key=s.key,
                    provider=s.provider,
                    endpoint="/v1/chat/completions",
                    model=s.model,
                    body_bytes=2,
                    feature=s.feature,
                    team=s.team,
                    state="succeeded",
                    lane=s.lane,
                    route_id=i,
                    moved_by=s.moved_by,
                    deadline=None if s.deadline_after is None else s.at - 100 + s.deadline_after,
                    created_at=s.at - 100,
                    updated_at=s.at,
                )
            )
            conn.execute(
                sa.insert(attempts).values(
                    request_id=i,
                    lane=s.lane,
                    outcome=s.outcome,
                    input_tokens=s.input_tokens,
                    cached_tokens=None if s.input_tokens is None else s.cached_tokens,
                    cache_write_tokens=None if s.input_tokens is None else s.cache_write_tokens,
                    cache_write_1h_tokens=(
                        None if s.input_tokens is None else s.cache_write_1h_tokens
                    ),
                    output_tokens=None if s.input_tokens is None else s.output_tokens,
                    cost_nano=s.cost,
                    realtime_cost_nano=s.realtime,
                    route_cost_nano=s.cost,
                    ttft=s.ttft,
                    tibt=s.tibt,
                    queue_seconds=s.queue_seconds,
                    created_at=s.at,
                    provider=s.provider,
                    model=s.model,
                    feature=s.feature,
                    team=s.team,
                )
            )


@pytest.fixture
def seeded(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    seed(opened, SEEDS)
    opened.ledger.rebuild_rollups()
    try:
        yield opened
    finally:
        opened.close()


def test_spend_per_feature_to_the_nano_dollar(seeded: Store) -> None:
    made = ReportMaker(seeded).report("feature", Scope(), now=D3 + DAY)
    lines = {line.key: line for line in made.lines}
    assert [line.key for line in made.lines] == ["triage", "digest", "chat", "(none)"]
    triage = lines["triage"]
    assert (triage.spend, triage.realtime, triage.saved) == (Decimal(6), Decimal(12), Decimal(6))
    assert triage.saved_share == 0.5
    assert (triage.requests, triage.attempts) == (3, 4)  # a retry is no request's end
    assert triage.input_tokens == 3000  # the unbilled retry has no tokens
    assert triage.cached_tokens == 400
    digest = lines["digest"]
    assert digest.spend == Decimal("2.75")
    assert digest.unpriced == 1  # the fine-tune: counted, in no sum
    assert lines["chat"].saved == 0
    total = made.total
    assert total.spend == Decimal("10.55")
    assert total.realtime == Decimal("17.35")
    assert total.saved == Decimal("6.8")
    assert total.attempts == len(SEEDS)


def test_a_period_and_its_days(seeded: Store) -> None:
    maker = ReportMaker(seeded)
    made = maker.report("day", Scope(since=D2 - 12 * 3600, until=D3 - 12 * 3600), now=D3)
    assert [line.key for line in made.lines] == ["2026-11-03"]
    assert made.total.spend == Decimal("4.25")  # t2 1 + c2 0.5 + d1 0.75 + d2 1 + d3 1
    by_day = maker.report("day", Scope(), now=D3)
    # Days come in the order of the calendar (other groupings: most spend first).
    assert [line.key for line in by_day.lines] == ["2026-11-02", "2026-11-03", "2026-11-04"]


def test_team_and_lane_groupings_and_the_kpis(seeded: Store) -> None:
    maker = ReportMaker(seeded)
    teams = {line.key: line.spend for line in maker.report("team", Scope(), D3).lines}
    assert teams == {"support": Decimal(7), "marketing": Decimal("2.75"), "finance": Decimal("0.8")}
    made = maker.report("lane", Scope(feature="triage"), D3)
    assert [line.key for line in made.lines] == ["batch"]
    k = maker.report("lane", Scope(), D3).kpis
    assert k.batch_share == pytest.approx(6 / 10.55)
    assert k.cache_hit_rate == pytest.approx(400 / (1000 * 9 + 1_000_000))
    # TTFT over the realtime and flex calls: 0.1, 0.2, 0.3, 0.4, 0.5, 2.0
    assert (k.ttft.count, k.ttft.p50, k.ttft.p95) == (6, 0.3, 2.0)
    assert (k.queue_wait.count, k.queue_wait.p50) == (2, 10.0)
    assert k.batch_turnaround.count == 0  # no batches in this store
    # A team's timings come from its own histograms (whole days) and attempts (the edges):
    # marketing's calls 0.1, 0.3, 0.5; support's 0.2, 0.4; the same whichever way it is cut.
    for team, expected in (("marketing", (3, 0.3, 0.5)), ("support", (2, 0.2, 0.4))):
        whole = maker.report("lane", Scope(team=team), D3 + DAY).kpis.ttft
        assert (whole.count, whole.p50, whole.p95) == expected
        edged = maker.report("lane", Scope(since=D1 - 3600, team=team), D3 + DAY).kpis.ttft
        assert (edged.count, edged.p50, edged.p95) == expected


def test_missed_savings_are_realtime_work_that_could_have_waited(seeded: Store) -> None:
    missed = ReportMaker(seeded, batch_after_seconds=25 * 3600).missed(Scope())
    # Only d1: c1/c2 had a person waiting, d2 was due in 2 h, d3 was moved by the guard.
    assert missed.attempts == 1
    assert missed.spend == Decimal("0.75")
    assert missed.batch == Decimal("0.375")
    assert missed.amount == Decimal("0.375")
    assert not missed.estimated
    # With a one-hour batch reach, d2 (due in 2 h) could have waited too.
    wider = ReportMaker(seeded, batch_after_seconds=3600).missed(Scope())
    assert wider.attempts == 2


def test_before_and_after_a_date(seeded: Store) -> None:
    compared = ReportMaker(seeded).compare(Scope(feature="triage"), at=D2 + 3600, now=D3 + DAY)
    assert compared.before.spend == Decimal(3)  # t1, t2
    assert compared.after.spend == Decimal(3)  # t3 (and the unbilled retry t4)
    assert (compared.before.requests, compared.after.requests) == (2, 1)
    assert compared.before_days == pytest.approx((D2 + 3600 - (D1 - 12 * 3600)) / DAY)
    assert compared.after_batch_share == 1.0


def cli_env(tmp_path: Path, store_url: str) -> dict[str, str]:
    return {"HALFRATE_HOME": str(tmp_path / "home"), "HALFRATE_DATABASE_URL": store_url}


def test_the_command_line_in_three_formats(sqlite_url: str, tmp_path: Path) -> None:
    store = Store.open(sqlite_url)
    try:
        seed(store, SEEDS)
        store.ledger.rebuild_rollups()
    finally:
        store.close()
    env = cli_env(tmp_path, sqlite_url)
    table = run("report", "--since", "2026-11-01", "--until", "2026-11-04", env=env)
    assert table.returncode == 0, table.stderr
    assert "triage" in table.stdout
    assert "$10.5500" in table.stdout
    assert "missed      $0.3750 more than batch" in table.stdout
    assert "1 billed attempts of models without a known price" in table.stdout
    as_json = run("report", "--by", "team", "--format", "json", env=env)
    data = json.loads(as_json.stdout)
    assert data["total"]["spend_usd"] == "10.550000000"
    assert data["missed_savings"]["amount_usd"] == "0.375000000"
    assert [f["feature"] for f in data["missed_savings"]["features"]] == ["digest"]
    assert data["missed_savings"]["features"][0]["amount_usd"] == "0.375000000"
    speed = {(r["model"], r["feature"], r["lane"]): r for r in data["price_performance"]}
    assert set(speed) == {
        ("gpt-4o-mini", "digest", "realtime"),
        ("gpt-4o-mini", "chat", "realtime"),
        ("gpt-4o-mini", "(none)", "flex"),
    }
    digest = speed["gpt-4o-mini", "digest", "realtime"]
    assert digest["spend_usd"] == "2.750000000"
    assert digest["per_1000_requests_usd"] == "916.666666667"  # $2.75 / 3 requests * 1,000
    assert digest["ttft_seconds"] == {"count": 3, "p50": 0.3, "p95": 0.5}
    assert {row["key"] for row in data["rows"]} == {"support", "marketing", "finance"}
    as_csv = run("report", "--by", "lane", "--format", "csv", env=env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows[-1]["lane"] == "total"
    assert rows[-1]["saved_usd"] == "6.800000000"
    compared = run("report", "--feature", "triage", "--compare-at", "2026-11-03T13:00:00Z", env=env)
    assert compared.returncode == 0, compared.stderr
    assert "before" in compared.stdout
    assert "after" in compared.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--by", "colour"], "--by 'colour' is not one of"),
        (["--format", "xml"], "--format 'xml'"),
        (["--since", "last tuesday"], "cannot read --since"),
        (["--since", "2026-13-45"], "cannot read --since"),
        (["--since", "x" * 5000], "too long to be a date"),
        (["--since", "2026-11-05", "--until", "2026-11-01"], "is not before --until"),
        (["--since", "2026-11-01", "--compare-at", "2026-10-01"], "must fall inside the period"),
        (["--compare-at", "2999-01-01"], "must fall inside the period"),
        (["--feature", ""], "--feature is empty"),
    ],
)
def test_bad_flags_get_one_clear_line(
    args: list[str], needle: str, sqlite_url: str, tmp_path: Path
) -> None:
    assert_one_line_error(run("report", *args, env=cli_env(tmp_path, sqlite_url)), needle)


def spend_between(since: float | None, until: float | None) -> Decimal:
    """The seeds' spend in a range, added up by hand."""
    return sum(
        (
            Decimal(s.cost or 0) / USD
            for s in SEEDS
            if (since is None or s.at >= since) and (until is None or s.at < until)
        ),
        Decimal(0),
    )


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (D2 - 1800, D3 + 900),  # partial hours at both ends
        (D2 + 1, None),  # a second after the seeds of day two
        (None, D2),  # up to, not including, noon of day two
        (D2 - 1, D2 + 1),  # two seconds inside one hour
        (D2 + 60, D2 + 120),  # a minute with nothing in it
    ],
)
def test_periods_that_cut_hours_are_exact_to_the_second(
    seeded: Store, since: float | None, until: float | None
) -> None:
    made = ReportMaker(seeded).report("feature", Scope(since=since, until=until), D3 + DAY)
    assert made.total.spend == spend_between(since, until)


def test_a_bad_price_table_is_refused_at_start(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[prices."ft:x"]\ninput = 1\n', encoding="utf-8")
    env = {**cli_env(tmp_path, sqlite_url), "HALFRATE_CONFIG": str(config)}
    assert_one_line_error(run("report", env=env), str(config), "'output'", "is required")


def test_user_prices_price_the_ledger(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import halfrate
    from halfrate.models import Lane, Usage

    config = tmp_path / "config.toml"
    config.write_text(
        '[halfrate]\nmax_attempts = 4\n\n[prices."ft:gpt-4o-mini:acme"]\ninput = 2\noutput = 8\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HALFRATE_CONFIG", str(config))
    with halfrate.connect(sqlite_url) as hr:
        assert hr.settings.max_attempts == 4
        cost = hr.store.prices.cost(
            "openai", "ft:gpt-4o-mini:acme", Usage(input_tokens=500_000), Lane.REALTIME
        )
        assert cost is not None
        assert cost.nano == 1_000_000_000
