"""The web page under a big spreadsheet: a 50,000-row CSV through the wizard's own endpoints
(sign in, upload, price, run) to a finished download, against the sandbox with zero latency.

Prints the time of each step and in all, the server's peak RSS, and the response time of the
job's pages while the job runs (p50 / p95, goal p95 under 200 ms), beside a baseline measured
in the same run: the same pages of a small finished job on the idle server.

    python bench/web.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roundtrip import free_port

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def write_table(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "message", "product"])
        for n in range(rows):
            writer.writerow([n, f"Order {n} arrived late, and the box was damaged", f"p{n % 40}"])


def wait_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answered at {url}")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(n) for n in (task / "children").read_text().split()]
    return found


def token(page: str) -> str:
    found = CSRF.search(page)
    if found is None:
        raise SystemExit("no CSRF token on the page")
    return found.group(1)


def timed_pages(
    web: httpx.Client,
    urls: list[str],
    until: float,
    done: object = None,
    each: dict[str, list[float]] | None = None,
) -> list[float]:
    """Response times (ms) of ``urls`` fetched in turn until ``until`` (or the job is done);
    ``each`` collects them per page too."""
    times: list[float] = []
    while time.monotonic() < until:
        for url in urls:
            started = time.perf_counter()
            page = web.get(url)
            took = (time.perf_counter() - started) * 1000
            times.append(took)
            if each is not None:
                each.setdefault(url.rsplit("/", 1)[-1], []).append(took)
            if done is not None and url.endswith("/progress") and "data-finished" in page.text:
                return times
        time.sleep(0.05)
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def run_job(web: httpx.Client, table: Path, steps: dict[str, float]) -> str:
    started = time.perf_counter()
    csrf = token(web.get("/jobs/new").text)
    with table.open("rb") as handle:
        sent = web.post(
            "/uploads", data={"csrf_token": csrf}, files={"spreadsheet": (table.name, handle)}
        )
    where = sent.headers["location"]
    steps["upload"] = time.perf_counter() - started
    form = {"csrf_token": csrf, "upload": where.split("upload=")[1], "prompt": "Sort: {message}"}
    started = time.perf_counter()
    web.post("/jobs/new/estimate", data=form).raise_for_status()
    steps["price"] = time.perf_counter() - started
    started = time.perf_counter()
    ran = web.post("/jobs/new/run", data=form)
    steps["run"] = time.perf_counter() - started
    return str(ran.headers["location"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    rows = parser.parse_args().rows
    folder = Path(tempfile.mkdtemp(prefix="halfrate-bench-web-"))
    sandbox_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALFRATE_", "OPENAI_"))}
    env.update(
        HALFRATE_HOME=str(folder / "home"),
        OPENAI_BASE_URL=f"http://127.0.0.1:{sandbox_port}/v1",
        OPENAI_API_KEY="sandbox-bench",
        HALFRATE_POLL_INITIAL_SECONDS="0.05",
        HALFRATE_POLL_MAX_SECONDS="0.2",
        HALFRATE_WORKER_IDLE_SECONDS="0.2",
        HALFRATE_UPLOAD_MAX_MB="500",
    )
    halfrate = [sys.executable, "-m", "halfrate"]
    subprocess.run(
        [*halfrate, "user", "add", "bench@example.com", "--team", "Bench"],
        input=PASSWORD, text=True, env=env, check=True, capture_output=True,
    )  # fmt: skip
    sandbox = subprocess.Popen(
        [*halfrate, "sandbox", "--port", str(sandbox_port), "--latency", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = subprocess.Popen(
        [*halfrate, "serve", "--port", str(web_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{web_port}"
    try:
        wait_up(f"http://127.0.0.1:{sandbox_port}/v1/models")
        wait_up(f"{base}/signin")
        web = httpx.Client(base_url=base, timeout=300)
        web.post(
            "/signin",
            data={"email": "bench@example.com", "password": PASSWORD,
                  "csrf_token": token(web.get("/signin").text)},
        )  # fmt: skip
        small, big = folder / "small.csv", folder / "big.csv"
        write_table(small, 20)
        write_table(big, rows)
        baseline_steps: dict[str, float] = {}
        small_job = run_job(web, small, baseline_steps)
        timed_pages(web, [f"{small_job}/progress"], time.monotonic() + 30, done=True)
        idle = timed_pages(web, [small_job, "/jobs"], time.monotonic() + 3)

        steps: dict[str, float] = {}
        started = time.perf_counter()
        job = run_job(web, big, steps)
        watched = time.perf_counter()
        per_page: dict[str, list[float]] = {}
        busy = timed_pages(
            web, [f"{job}/progress", "/jobs"], time.monotonic() + 600, done=True, each=per_page
        )
        steps["until done"] = time.perf_counter() - watched
        watched = time.perf_counter()
        download = web.get(f"{job}/download.csv")
        steps["download"] = time.perf_counter() - watched
        total = time.perf_counter() - started
        downloaded = list(csv.DictReader(download.text.splitlines(keepends=True)))
        unfinished = sum(row["status"] != "succeeded" for row in downloaded)
    finally:
        server_peak = peak_rss_mb(server.pid) if server.poll() is None else float("nan")
        worker_peak = sum(peak_rss_mb(child) for child in children(server.pid))
        server.terminate()
        sandbox.terminate()
        server.wait(30)
        sandbox.wait(30)
    print(f"web page, {rows:,} rows through the wizard to a finished download")
    for name, seconds in steps.items():
        print(f"  {name:<11} {seconds:7.2f} s")
    print(
        f"  {'total':<11} {total:7.2f} s   ({len(downloaded):,} rows downloaded, "
        f"{unfinished:,} not succeeded)"
    )
    print(f"  server peak RSS {server_peak:,.0f} MB; its worker process {worker_peak:,.0f} MB")
    p95, idle95 = percentile(busy, 0.95), percentile(idle, 0.95)
    print(
        f"  pages while the job runs: p50 {percentile(busy, 0.5):.0f} ms, p95 {p95:.0f} ms over "
        f"{len(busy)} requests (goal p95 < 200 ms: {'met' if p95 < 200 else 'NOT met'})"
    )
    print(
        f"  baseline, the same pages idle: p50 {percentile(idle, 0.5):.0f} ms, p95 "
        f"{idle95:.0f} ms; ratio p95 {p95 / idle95:.1f}x"
    )
    print(f"  median page while busy {statistics.median(busy):.0f} ms")
    for name, times in per_page.items():
        print(
            f"    {name}: p50 {percentile(times, 0.5):.0f} ms, p95 {percentile(times, 0.95):.0f} ms"
            f" over {len(times)}"
        )


if __name__ == "__main__":
    main()
