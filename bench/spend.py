"""The spend page over a large ledger: the bench/report.py store (N attempts, default
1,000,000, over 30 days, 20 features, 6 teams, 5 models, three lanes) served by `halfrate serve`;
the page (every team, then one team: its figures, KPIs, missed savings with the features they
came from, the price and speed of the realtime work per model and feature, and the charts'
tables), the CSV behind each chart and the price-and-speed CSV are each fetched repeatedly and
timed on the client's side of the loopback (p50 / p95; goal p95 under 500 ms per page and per
chart). The baseline, in the same run on the same server, is a light page (Budgets).

    python bench/spend.py [--rows 1000000] [--tries 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import halfrate
from halfrate.store import Store
from report import fill, roll_up
from roundtrip import free_port
from web import percentile, token, wait_up

PASSWORD = "correct horse battery"
PERIOD = {"period": "dates", "start": "2026-10-20", "end": "2026-11-30"}  # the whole ledger
GOAL_MS = 500.0


def timed(web: httpx.Client, url: str, params: dict[str, str], tries: int) -> list[float]:
    times = []
    for _ in range(tries):
        started = time.perf_counter()
        answer = web.get(url, params=params)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tries", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="halfrate-bench-spend-"))
    url = f"sqlite:///{folder}/ledger.db"
    store = Store.open(url)
    filled = fill(store, args.rows)
    rolled = roll_up(store)
    store.close()
    with halfrate.connect(database_url=url) as hr:
        hr.add_account("bench@example.com", PASSWORD, "team-1", admin=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALFRATE_")}
    env.update(HALFRATE_HOME=str(folder / "home"), HALFRATE_DATABASE_URL=url)
    server = subprocess.Popen(
        [sys.executable, "-m", "halfrate", "serve", "--no-worker", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    pages: dict[str, list[float]] = {}
    try:
        wait_up(f"{base}/signin")
        web = httpx.Client(base_url=base, timeout=120)
        web.post(
            "/signin",
            data={"email": "bench@example.com", "password": PASSWORD,
                  "csrf_token": token(web.get("/signin").text)},
        )  # fmt: skip
        timed(web, "/spend", PERIOD, 1)  # warm: imports, price data, the page's template
        pages["baseline: budgets page"] = timed(web, "/budgets", {}, args.tries)
        pages["spend page, every team"] = timed(web, "/spend", PERIOD, args.tries)
        pages["spend page, one team"] = timed(
            web, "/spend", {**PERIOD, "team": "team-3"}, args.tries
        )
        for chart in ("day", "feature", "team", "model"):
            params = {**PERIOD, "chart": chart}
            pages[f"CSV by {chart}"] = timed(web, "/spend.csv", params, args.tries)
        speed = {**PERIOD, "chart": "speed"}
        pages["CSV price and speed"] = timed(web, "/spend.csv", speed, args.tries)
        pages["CSV price and speed, a team"] = timed(
            web, "/spend.csv", {**speed, "team": "team-3"}, args.tries
        )
    finally:
        server.terminate()
        server.wait(30)
    print(
        f"spend page over {args.rows:,} ledger rows (SQLite; filled in {filled:.0f} s, "
        f"rolled up in {rolled:.0f} s)"
    )
    baseline = percentile(pages["baseline: budgets page"], 0.95)
    met = True
    for name, times in pages.items():
        p95 = percentile(times, 0.95)
        ratio = p95 / baseline if baseline else float("nan")
        print(
            f"  {name:<28} p50 {percentile(times, 0.5):7.0f} ms  p95 {p95:7.0f} ms  "
            f"({ratio:5.1f}x the baseline)"
        )
        met = met and (name.startswith("baseline") or p95 < GOAL_MS)
    print(f"goal (p95 < {GOAL_MS:.0f} ms per page and per chart): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
